// set_cpu_threads / cpu_threads: the count takes effect (one thread runs every task of a
// kernel on the calling thread), results are bitwise the same at any count, and bad
// counts are refused.
#include "backward_support.h"
#include "test_support.h"

#include "HalideRuntime.h"

#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <thread>
#include <utility>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// The threads that ran the kernels' parallel tasks since the last reset.
struct TaskThreads {
    static std::mutex mutex;
    static std::set<std::thread::id> ids;

    static int record(void *user_context, halide_task_t f, int idx, uint8_t *closure) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            ids.insert(std::this_thread::get_id());
        }
        return halide_default_do_task(user_context, f, idx, closure);
    }
    static std::set<std::thread::id> take() {
        std::lock_guard<std::mutex> lock(mutex);
        return std::exchange(ids, {});
    }
};
std::mutex TaskThreads::mutex;
std::set<std::thread::id> TaskThreads::ids;

// Restores the count in effect when the test started.
struct RestoreThreads {
    int threads = cpu_threads();
    ~RestoreThreads() { set_cpu_threads(threads); }
};

Params layer() { return make_params(8, 12, {3, 3, 3}, {2, 1, 2}, {1, 1, 0}, {1, 0, 0}); }

}  // namespace

TEST_CASE("set_cpu_threads: the count takes effect and results do not depend on it", "[cpu][threads]") {
    RestoreThreads restore;
    std::mt19937 rng(7);
    const Case c{layer(), {2, 8, 5, 9, 11}};
    const Params &p = c.params;
    const BackwardInputs in = make_backward_inputs(rng, c, /*integers=*/false);
    const Tensor &x = in.forward.x, &w = in.forward.w, &b = in.forward.b;
    const Tensor g = Tensor::from_vector(in.grad_output, output_shape(p, c.input_shape));

    struct Result {
        std::vector<float> y, grad_input, grad_weight, grad_bias;
    };
    auto run = [&] {
        const Gradients grads = conv_transpose3d_backward(g, x, w, p);
        return Result{conv_transpose3d(x, w, &b, p).to_vector(), grads.grad_input.to_vector(),
                      grads.grad_weight.to_vector(), grads.grad_bias.to_vector()};
    };

    // The default count first, so that the pool has started its workers before it shrinks.
    set_cpu_threads(0);
    CHECK(cpu_threads() >= 1);
    const Result standard = run();

    const halide_do_task_t before = halide_set_custom_do_task(TaskThreads::record);
    set_cpu_threads(1);
    CHECK(cpu_threads() == 1);
    TaskThreads::take();
    const Result one = run();
    const std::set<std::thread::id> one_thread = TaskThreads::take();
    halide_set_custom_do_task(before);
    CHECK(one_thread == std::set<std::thread::id>{std::this_thread::get_id()});

    CHECK(set_cpu_threads(3) == 1);
    CHECK(cpu_threads() == 3);
    const Result three = run();
    for (const Result *r : {&three, &standard}) {
        CHECK(bitwise_equal(r->y, one.y));
        CHECK(bitwise_equal(r->grad_input, one.grad_input));
        CHECK(bitwise_equal(r->grad_weight, one.grad_weight));
        CHECK(bitwise_equal(r->grad_bias, one.grad_bias));
    }
}

TEST_CASE("set_cpu_threads: changing the count while other threads run kernels", "[cpu][threads]") {
    RestoreThreads restore;
    std::mt19937 rng(11);
    const Case c{layer(), {1, 8, 4, 6, 7}};
    const Params &p = c.params;
    const Inputs in = make_inputs(rng, c, /*integers=*/false);
    const Tensor &x = in.x, &w = in.w, &b = in.b;
    const std::vector<float> expected = conv_transpose3d(x, w, &b, p).to_vector();
    // Each restart waits for the running calls; none may fail, hang or change a result.
    std::vector<std::thread> callers;
    std::vector<int> mismatches(2, 0);
    for (int t = 0; t < 2; t++) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < 20; i++) {
                mismatches[t] += !bitwise_equal(conv_transpose3d(x, w, &b, p).to_vector(), expected);
            }
        });
    }
    for (int i = 0; i < 20; i++) set_cpu_threads(1 + i % 3);
    for (std::thread &c : callers) c.join();
    CHECK(mismatches == std::vector<int>{0, 0});
}

TEST_CASE("set_cpu_threads: a negative count is refused and changes nothing", "[cpu][threads]") {
    RestoreThreads restore;
    set_cpu_threads(2);
    try {
        set_cpu_threads(-1);
        FAIL("set_cpu_threads(-1) did not throw");
    } catch (const Error &e) {
        CHECK_THAT(e.what(), Catch::Contains("threads=-1"));
    }
    CHECK(cpu_threads() == 2);
}
