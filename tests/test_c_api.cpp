// The C ABI (convt3d.h): defaults, shapes, forward against the reference, and every error
// as a status with a message naming the argument; no exception ever escapes.
#include "convt3d/convt3d.h"

#include "reference.h"
#include "reference_backward.h"
#include "test_support.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

using namespace convt3d::testing;

namespace {

convt3d_params to_c(const convt3d::Params &p) {
    convt3d_params c;
    convt3d_params_init(&c, p.in_channels, p.out_channels, p.kernel_size[0], p.kernel_size[1], p.kernel_size[2]);
    for (int i = 0; i < 3; i++) {
        c.stride[i] = p.stride[i];
        c.padding[i] = p.padding[i];
        c.output_padding[i] = p.output_padding[i];
        c.dilation[i] = p.dilation[i];
    }
    c.groups = p.groups;
    c.bias = p.bias ? 1 : 0;
    return c;
}

// Runs a C call; an exception crossing the C ABI is a failure.
convt3d_status call(const std::function<convt3d_status()> &f) {
    try {
        return f();
    } catch (const std::exception &e) {
        FAIL_CHECK("an exception crossed the C ABI: " << e.what());
    } catch (...) {
        FAIL_CHECK("an exception crossed the C ABI");
    }
    return CONVT3D_OK;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return s;
}

void expect(convt3d_status got, convt3d_status want, const std::vector<std::string> &fragments) {
    const std::string msg = convt3d_last_error();
    INFO("message: " << msg);
    CHECK(got == want);
    CHECK_FALSE(msg.empty());
    for (const std::string &f : fragments) {
        INFO("expected fragment: '" << f << "'");
        CHECK(lower(msg).find(lower(f)) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("C API: convt3d_params_init gives torch.nn.ConvTranspose3d's defaults", "[c_api]") {
    convt3d_params p;
    std::memset(&p, 0x5a, sizeof p);  // garbage first: init must set every field
    convt3d_params_init(&p, 4, 6, 2, 3, 5);
    CHECK(p.in_channels == 4);
    CHECK(p.out_channels == 6);
    CHECK(p.kernel_size[0] == 2);
    CHECK(p.kernel_size[1] == 3);
    CHECK(p.kernel_size[2] == 5);
    for (int i = 0; i < 3; i++) {
        CHECK(p.stride[i] == 1);
        CHECK(p.padding[i] == 0);
        CHECK(p.output_padding[i] == 0);
        CHECK(p.dilation[i] == 1);
    }
    CHECK(p.groups == 1);
    CHECK(p.bias != 0);
    CHECK((p.padding_mode == nullptr || std::string(p.padding_mode) == "zeros"));
    convt3d_params_init(nullptr, 1, 1, 1, 1, 1);  // tolerated, no crash
}

TEST_CASE("C API: output shapes", "[c_api]") {
    convt3d_params p;
    convt3d_params_init(&p, 16, 33, 3, 5, 2);
    p.stride[0] = 2;
    p.padding[1] = 4;
    p.padding[2] = 2;
    const int64_t seed_in[5] = {20, 16, 10, 50, 100};
    int64_t out[5] = {};
    int rank = 0;
    REQUIRE(call([&] { return convt3d_output_shape(&p, seed_in, 5, out, &rank); }) == CONVT3D_OK);
    CHECK(rank == 5);
    CHECK(std::vector<int64_t>(out, out + 5) == std::vector<int64_t>{20, 33, 21, 46, 97});
    CHECK(std::string(convt3d_last_error()).empty());

    const int64_t unbatched[4] = {16, 10, 50, 100};
    int64_t out4[5] = {-1, -1, -1, -1, -99};
    REQUIRE(call([&] { return convt3d_output_shape(&p, unbatched, 4, out4, &rank); }) == CONVT3D_OK);
    CHECK(rank == 4);
    CHECK(std::vector<int64_t>(out4, out4 + 4) == std::vector<int64_t>{33, 21, 46, 97});
    CHECK(out4[4] == -99);  // only rank values written

    p.padding_mode = nullptr;  // NULL means "zeros"
    CHECK(call([&] { return convt3d_output_shape(&p, seed_in, 5, out, &rank); }) == CONVT3D_OK);

    // The seed example's multiply-adds, as the C++ API counts them; a null result is an error.
    double macs = 0;
    REQUIRE(call([&] { return convt3d_multiply_adds(&p, seed_in, 5, &macs); }) == CONVT3D_OK);
    CHECK(macs == convt3d::multiply_adds(convt3d::testing::seed_example_params(), {20, 16, 10, 50, 100}));
    CHECK(macs == 20.0 * 16 * 33 * (10 * 3) * (50 * 5 - 20) * (100 * 2 - 6));
    CHECK(call([&] { return convt3d_multiply_adds(&p, seed_in, 5, nullptr); }) == CONVT3D_INVALID_ARGUMENT);
    CHECK(std::string(convt3d_last_error()).find("multiply_adds") != std::string::npos);

    // Random legal cases agree with the C++ API and the formula.
    std::mt19937 rng(test_seed(8, "c_api_shapes"));
    for (int i = 0; i < 100; i++) {
        const Case c = random_case(rng, "generic");
        INFO(describe(c));
        const convt3d_params q = to_c(c.params);
        int64_t o[5] = {};
        int r = 0;
        REQUIRE(call([&] {
                    return convt3d_output_shape(&q, c.input_shape.data(), static_cast<int>(c.input_shape.size()), o, &r);
                }) == CONVT3D_OK);
        REQUIRE(r == static_cast<int>(c.input_shape.size()));
        CHECK(convt3d::Shape(o, o + r) == convt3d::reference::output_shape(c.params, c.input_shape));
    }
}

TEST_CASE("C API: forward matches the reference", "[c_api]") {
    std::mt19937 rng(test_seed(3, "c_api_forward"));
    int ran = 0;
    for (const std::string &kernel : convt3d::kernel_names(convt3d::Device::cpu)) {
        for (int i = 0; i < 6; i++) {  // cases the kernel applies to, so dispatch reaches it
            const Case c = random_case(rng, kernel);
            const bool integers = i % 2 == 1;
            INFO(kernel << "-shaped case: " << describe(c));
            const Inputs in = make_inputs(rng, c, integers);
            const convt3d_params q = to_c(c.params);
            const auto x = in.x.to_vector(), w = in.w.to_vector();
            const int64_t n_out = convt3d::numel(convt3d::reference::output_shape(c.params, c.input_shape));
            std::vector<float> y(static_cast<size_t>(n_out), std::nanf(""));
            REQUIRE(call([&] {
                        return convt3d_forward(&q, CONVT3D_DEVICE_CPU, x.data(), c.input_shape.data(),
                                               static_cast<int>(c.input_shape.size()), w.data(),
                                               c.params.bias ? in.bias_values.data() : nullptr, y.data(), n_out);
                    }) == CONVT3D_OK);
            CHECK(std::string(convt3d_last_error()).empty());
            const Comparison cmp = compare(y, reference_output(c, in));
            CHECK(cmp.non_finite == 0);
            if (integers) {
                CHECK(cmp.mismatched == 0);
            } else {
                CHECK(cmp.max_error <= tolerance(c));
            }
            ran++;
        }
    }
    CHECK(ran >= 6);
}

TEST_CASE("C API: every invalid argument is a status with a message naming it", "[c_api]") {
    convt3d_params p;
    convt3d_params_init(&p, 4, 6, 2, 2, 2);
    p.stride[0] = p.stride[1] = p.stride[2] = 2;
    const int64_t in_shape[5] = {1, 4, 2, 2, 2};
    const int64_t n_out = 6 * 4 * 4 * 4;
    int64_t out_shape[5];
    int rank = 0;
    std::vector<float> x(32, 1), w(4 * 6 * 8, 1), b(6, 1), y(static_cast<size_t>(n_out), -7.0f);
    auto forward = [&](const convt3d_params *q) {
        return call([&] {
            return convt3d_forward(q, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(),
                                   q && q->bias ? b.data() : nullptr, y.data(), n_out);
        });
    };

    // Each hyper-parameter rule, through both entry points.
    struct Rule {
        std::function<void(convt3d_params &)> edit;
        std::vector<std::string> fragments;
    };
    const std::vector<Rule> rules = {
        {[](convt3d_params &q) { q.in_channels = 0; }, {"in_channels", "0"}},
        {[](convt3d_params &q) { q.out_channels = -1; }, {"out_channels", "-1"}},
        {[](convt3d_params &q) { q.kernel_size[1] = 0; }, {"kernel_size", "0"}},
        {[](convt3d_params &q) { q.stride[2] = -2; }, {"stride", "-2"}},
        {[](convt3d_params &q) { q.dilation[0] = 0; }, {"dilation", "0"}},
        {[](convt3d_params &q) { q.padding[0] = -1; }, {"padding", "-1"}},
        {[](convt3d_params &q) { q.output_padding[1] = -1; }, {"output_padding", "-1"}},
        {[](convt3d_params &q) { q.output_padding[2] = 2; }, {"output_padding", "stride", "dilation"}},
        {[](convt3d_params &q) { q.groups = 0; }, {"groups", "0"}},
        {[](convt3d_params &q) { q.groups = 4; }, {"groups=4", "out_channels=6"}},
        {[](convt3d_params &q) { q.groups = 3; q.out_channels = 3; }, {"groups=3", "in_channels=4"}},
        {[](convt3d_params &q) { q.padding_mode = "reflect"; }, {"padding_mode", "reflect"}},
        {[](convt3d_params &q) { q.padding_mode = "circular"; }, {"padding_mode", "circular"}},
        {[](convt3d_params &q) { q.padding[0] = 5; }, {"output size", "D"}},
    };
    for (const Rule &rule : rules) {
        convt3d_params bad = p;
        rule.edit(bad);
        INFO("expected: " << rule.fragments.front());
        expect(call([&] { return convt3d_output_shape(&bad, in_shape, 5, out_shape, &rank); }),
               CONVT3D_INVALID_ARGUMENT, rule.fragments);
        expect(forward(&bad), CONVT3D_INVALID_ARGUMENT, rule.fragments);
    }

    // Shapes, ranks and pointers.
    expect(call([&] { return convt3d_output_shape(nullptr, in_shape, 5, out_shape, &rank); }),
           CONVT3D_INVALID_ARGUMENT, {"params"});
    expect(call([&] { return convt3d_output_shape(&p, nullptr, 5, out_shape, &rank); }), CONVT3D_INVALID_ARGUMENT,
           {"input_shape"});
    expect(call([&] { return convt3d_output_shape(&p, in_shape, 5, nullptr, &rank); }), CONVT3D_INVALID_ARGUMENT,
           {"output_shape"});
    for (int bad_rank : {0, 3, 6, -1}) {
        expect(call([&] { return convt3d_output_shape(&p, in_shape, bad_rank, out_shape, &rank); }),
               CONVT3D_INVALID_ARGUMENT, {"input_rank=" + std::to_string(bad_rank)});
    }
    const int64_t wrong_channels[5] = {1, 5, 2, 2, 2};
    expect(call([&] { return convt3d_output_shape(&p, wrong_channels, 5, out_shape, &rank); }),
           CONVT3D_INVALID_ARGUMENT, {"5 channels", "in_channels=4"});
    const int64_t zero_extent[5] = {1, 4, 2, 0, 2};
    expect(call([&] { return convt3d_output_shape(&p, zero_extent, 5, out_shape, &rank); }),
           CONVT3D_INVALID_ARGUMENT, {"non-positive"});
    const int64_t huge[5] = {INT64_MAX / 2, 4, 1000, 1000, 1000};
    expect(call([&] { return convt3d_output_shape(&p, huge, 5, out_shape, &rank); }), CONVT3D_INVALID_ARGUMENT,
           {"int64"});

    expect(forward(nullptr), CONVT3D_INVALID_ARGUMENT, {"params"});
    auto fwd = [&](const float *xi, const int64_t *shape, int r, const float *wi, const float *bi, float *yi,
                   int64_t n, convt3d_device dev = CONVT3D_DEVICE_CPU) {
        return call([&] { return convt3d_forward(&p, dev, xi, shape, r, wi, bi, yi, n); });
    };
    expect(fwd(nullptr, in_shape, 5, w.data(), b.data(), y.data(), n_out), CONVT3D_INVALID_ARGUMENT, {"input"});
    expect(fwd(x.data(), nullptr, 5, w.data(), b.data(), y.data(), n_out), CONVT3D_INVALID_ARGUMENT,
           {"input_shape"});
    expect(fwd(x.data(), in_shape, 3, w.data(), b.data(), y.data(), n_out), CONVT3D_INVALID_ARGUMENT,
           {"input_rank=3"});
    expect(fwd(x.data(), in_shape, 5, nullptr, b.data(), y.data(), n_out), CONVT3D_INVALID_ARGUMENT, {"weight"});
    expect(fwd(x.data(), in_shape, 5, w.data(), nullptr, y.data(), n_out), CONVT3D_INVALID_ARGUMENT, {"bias"});
    expect(fwd(x.data(), in_shape, 5, w.data(), b.data(), nullptr, n_out), CONVT3D_INVALID_ARGUMENT, {"output"});
    for (int64_t bad_numel : {int64_t{7}, int64_t{0}, int64_t{-1}, n_out - 1, n_out + 1}) {
        expect(fwd(x.data(), in_shape, 5, w.data(), b.data(), y.data(), bad_numel), CONVT3D_INVALID_ARGUMENT,
               {"output_numel=" + std::to_string(bad_numel)});
    }
    expect(fwd(x.data(), in_shape, 5, w.data(), b.data(), y.data(), n_out, static_cast<convt3d_device>(7)),
           CONVT3D_INVALID_ARGUMENT, {"device=7"});
    expect(fwd(x.data(), wrong_channels, 5, w.data(), b.data(), y.data(), n_out), CONVT3D_INVALID_ARGUMENT,
           {"in_channels=4"});
    convt3d_params no_bias = p;
    no_bias.bias = 0;
    expect(call([&] {
               return convt3d_forward(&no_bias, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), b.data(), y.data(),
                                      n_out);
           }),
           CONVT3D_INVALID_ARGUMENT, {"bias"});
    // In-place (output aliasing the input), inside y so that a missed check could not write out of bounds.
    expect(fwd(y.data(), in_shape, 5, w.data(), b.data(), y.data(), n_out), CONVT3D_INVALID_ARGUMENT, {"overlaps"});
    for (float v : y) REQUIRE(v == -7.0f);  // no rejected call wrote the output

    // A successful call clears the message; bias NULL is fine without a bias.
    REQUIRE(call([&] {
                return convt3d_forward(&no_bias, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), nullptr,
                                       y.data(), n_out);
            }) == CONVT3D_OK);
    CHECK(std::string(convt3d_last_error()).empty());
    // k2 s2 with all-ones: every output is one input position times 4 channels.
    for (float v : y) CHECK(v == 4.0f);
}

TEST_CASE("C API: CUDA without a GPU is a backend error", "[c_api][cuda]") {
    if (convt3d::cuda_available()) {
        WARN("a CUDA device is present: the no-GPU error path is not exercised here");
        return;
    }
    convt3d_params p;
    convt3d_params_init(&p, 4, 6, 2, 2, 2);
    const int64_t in_shape[5] = {1, 4, 2, 2, 2};
    std::vector<float> x(32, 1), w(4 * 6 * 8, 1), b(6, 1), y(6 * 27, -7.0f);
    // Host pointers never reach a kernel: the missing device is found first.
    expect(call([&] {
               return convt3d_forward(&p, CONVT3D_DEVICE_CUDA, x.data(), in_shape, 5, w.data(), b.data(), y.data(),
                                      6 * 27);
           }),
           CONVT3D_BACKEND_ERROR, {"cuda"});
    for (float v : y) REQUIRE(v == -7.0f);
    // Argument errors still come first, as INVALID_ARGUMENT.
    p.groups = 5;
    expect(call([&] {
               return convt3d_forward(&p, CONVT3D_DEVICE_CUDA, x.data(), in_shape, 5, w.data(), b.data(), y.data(),
                                      6 * 27);
           }),
           CONVT3D_INVALID_ARGUMENT, {"groups=5"});
}

TEST_CASE("C API: the last error is per thread", "[c_api]") {
    convt3d_params p;
    convt3d_params_init(&p, 4, 6, 2, 2, 2);
    const int64_t in_shape[5] = {1, 4, 2, 2, 2};
    int64_t out[5];
    int rank;
    REQUIRE(convt3d_output_shape(&p, in_shape, 5, out, &rank) == CONVT3D_OK);
    std::string other;
    std::thread t([&] {
        convt3d_params bad = p;
        bad.groups = 0;
        convt3d_output_shape(&bad, in_shape, 5, out, &rank);
        other = convt3d_last_error();
    });
    t.join();
    CHECK(other.find("groups") != std::string::npos);
    CHECK(std::string(convt3d_last_error()).empty());  // this thread's last call succeeded
}

TEST_CASE("C API: backward matches the reference and the C++ API", "[c_api][backward]") {
    std::mt19937 rng(test_seed(12, "c_api_backward"));
    for (int i = 0; i < 12; i++) {
        const Case c = random_case(rng, "generic");
        INFO(describe(c));
        const convt3d_params q = to_c(c.params);
        const std::vector<float> x = random_values(rng, convt3d::numel(c.input_shape), true);
        const std::vector<float> w = random_values(rng, convt3d::numel(convt3d::weight_shape(c.params)), true);
        const convt3d::Shape out_shape = convt3d::output_shape(c.params, c.input_shape);
        const std::vector<float> g = random_values(rng, convt3d::numel(out_shape), true);
        std::vector<float> gi(x.size(), std::nanf("")), gw(w.size(), std::nanf(""));
        std::vector<float> gb(static_cast<size_t>(c.params.out_channels), std::nanf(""));
        REQUIRE(call([&] {
                    return convt3d_backward(&q, CONVT3D_DEVICE_CPU, x.data(), c.input_shape.data(),
                                            static_cast<int>(c.input_shape.size()), w.data(), g.data(),
                                            static_cast<int64_t>(g.size()), gi.data(), gw.data(),
                                            c.params.bias ? gb.data() : nullptr);
                }) == CONVT3D_OK);
        CHECK(std::string(convt3d_last_error()).empty());
        // Small integers: every sum is exact, so the float32 results equal the reference.
        const convt3d::reference::Gradients ref = convt3d::reference::backward(c.params, c.input_shape, x, w, g);
        CHECK(compare(gi, ref.grad_input).mismatched == 0);
        CHECK(compare(gw, ref.grad_weight).mismatched == 0);
        if (c.params.bias) {
            CHECK(compare(gb, ref.grad_bias).mismatched == 0);
        } else {
            for (float v : gb) CHECK(std::isnan(v));  // not requested, not written
        }
        // Only grad_weight.
        std::vector<float> gw2(w.size(), std::nanf(""));
        REQUIRE(call([&] {
                    return convt3d_backward(&q, CONVT3D_DEVICE_CPU, x.data(), c.input_shape.data(),
                                            static_cast<int>(c.input_shape.size()), w.data(), g.data(),
                                            static_cast<int64_t>(g.size()), nullptr, gw2.data(), nullptr);
                }) == CONVT3D_OK);
        CHECK(compare(gw2, ref.grad_weight).mismatched == 0);
    }
}

TEST_CASE("C API: backward errors come back as statuses with messages", "[c_api][backward]") {
    const convt3d::Params p = make_params(2, 4, {2, 2, 2}, {2, 2, 2});
    const convt3d_params q = to_c(p);
    const int64_t in_shape[5] = {1, 2, 2, 3, 2};
    const convt3d::Shape out_shape = convt3d::output_shape(p, convt3d::Shape(in_shape, in_shape + 5));
    const int64_t n_out = convt3d::numel(out_shape);
    const auto n_in = static_cast<size_t>(convt3d::numel(convt3d::Shape(in_shape, in_shape + 5)));
    const auto n_w = static_cast<size_t>(convt3d::numel(convt3d::weight_shape(p)));
    std::vector<float> x(n_in, 1.0f), w(n_w, 1.0f), g(static_cast<size_t>(n_out), 1.0f);
    std::vector<float> gi(n_in), gw(n_w), gb(4);
    auto backward = [&](const convt3d_params *pp, convt3d_device dev, const int64_t *shape, int rank, int64_t n,
                        float *a, float *b, float *c) {
        return call([&] {
            return convt3d_backward(pp, dev, x.data(), shape, rank, w.data(), g.data(), n, a, b, c);
        });
    };
    expect(backward(nullptr, CONVT3D_DEVICE_CPU, in_shape, 5, n_out, gi.data(), gw.data(), gb.data()),
           CONVT3D_INVALID_ARGUMENT, {"params is null"});
    expect(backward(&q, static_cast<convt3d_device>(7), in_shape, 5, n_out, gi.data(), gw.data(), gb.data()),
           CONVT3D_INVALID_ARGUMENT, {"device=7"});
    expect(backward(&q, CONVT3D_DEVICE_CPU, nullptr, 5, n_out, gi.data(), gw.data(), gb.data()),
           CONVT3D_INVALID_ARGUMENT, {"input_shape is null"});
    expect(backward(&q, CONVT3D_DEVICE_CPU, in_shape, 3, n_out, gi.data(), gw.data(), gb.data()),
           CONVT3D_INVALID_ARGUMENT, {"input_rank=3"});
    expect(backward(&q, CONVT3D_DEVICE_CPU, in_shape, 5, n_out + 1, gi.data(), gw.data(), gb.data()),
           CONVT3D_INVALID_ARGUMENT, {"grad_output_numel"});
    expect(backward(&q, CONVT3D_DEVICE_CPU, in_shape, 5, n_out, nullptr, nullptr, nullptr), CONVT3D_INVALID_ARGUMENT,
           {"no gradient requested"});
    convt3d_params no_bias = q;
    no_bias.bias = 0;
    expect(backward(&no_bias, CONVT3D_DEVICE_CPU, in_shape, 5, n_out, gi.data(), gw.data(), gb.data()),
           CONVT3D_INVALID_ARGUMENT, {"grad_bias", "bias=false"});
    expect(call([&] {
               return convt3d_backward(&q, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), nullptr, n_out,
                                       gi.data(), nullptr, nullptr);
           }),
           CONVT3D_INVALID_ARGUMENT, {"grad_output.data is null"});
    if (!convt3d::cuda_available()) {
        expect(backward(&q, CONVT3D_DEVICE_CUDA, in_shape, 5, n_out, gi.data(), gw.data(), gb.data()),
               CONVT3D_BACKEND_ERROR, {"cuda"});
    }
    REQUIRE(backward(&q, CONVT3D_DEVICE_CPU, in_shape, 5, n_out, gi.data(), gw.data(), gb.data()) == CONVT3D_OK);
    for (float v : gb) CHECK(v == float(n_out / 4));
}

TEST_CASE("C API: the CPU thread count", "[c_api][threads]") {
    const int start = convt3d_cpu_threads();
    REQUIRE(start >= 1);
    int previous = -1;
    REQUIRE(convt3d_set_cpu_threads(1, &previous) == CONVT3D_OK);
    CHECK(previous == start);
    CHECK(convt3d_cpu_threads() == 1);
    CHECK(convt3d_set_cpu_threads(-3, &previous) == CONVT3D_INVALID_ARGUMENT);
    CHECK(std::string(convt3d_last_error()).find("threads=-3") != std::string::npos);
    CHECK(convt3d_cpu_threads() == 1);
    REQUIRE(convt3d_set_cpu_threads(start, nullptr) == CONVT3D_OK);
    CHECK(std::string(convt3d_last_error()).empty());
    CHECK(convt3d_cpu_threads() == start);
}
