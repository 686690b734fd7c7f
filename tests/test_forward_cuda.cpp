// The CUDA kernels against the reference. Without a GPU these tests say so and check that
// CUDA calls fail with an error rather than a crash, and exit with 77, which CTest
// reports as "Skipped" so that a run without a GPU says so in its summary.
#include "test_support.h"

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

using namespace convt3d;
using namespace convt3d::testing;

TEST_CASE("CUDA kernels match the reference on random parameters", "[cuda][forward]") {
    if (!cuda_available() || kernel_names(Device::cuda).empty()) {
        WARN("CUDA tests SKIPPED: " << (kernel_names(Device::cuda).empty() ? "this build has no CUDA kernels"
                                                                          : "no CUDA device/driver on this machine")
                                    << "; only the error path was checked");
        Params p;
        p.in_channels = p.out_channels = 2;
        CHECK_THROWS_AS(Tensor(Shape{2, 2}, Device::cuda), BackendError);
        Tensor x(Shape{1, 2, 3, 3, 3}), w(weight_shape(p)), b(Shape{2});
        Tensor out(output_shape(p, x.shape()));
        const ConstTensorView bv = b.view();
        const ConstTensorView xv{x.data(), x.shape(), Device::cuda}, wv{w.data(), w.shape(), Device::cuda};
        const ConstTensorView bcv{bv.data, bv.shape, Device::cuda};
        CHECK_THROWS_AS(conv_transpose3d(xv, wv, &bcv, TensorView{out.data(), out.shape(), Device::cuda}, p),
                        BackendError);
        return;
    }
    std::mt19937 rng(424242);
    for (const std::string &kernel : kernel_names(Device::cuda)) {
        for (int i = 0; i < 40; i++) {
            const Case c = random_case(rng, kernel);
            INFO(kernel << " on cuda: " << describe(c));
            const Comparison r = run_and_compare(rng, c, Device::cuda, {kernel, std::nullopt});
            REQUIRE(r.non_finite == 0);
            REQUIRE(r.guard_damaged == 0);
            REQUIRE(r.max_error <= tolerance(c));
        }
    }
}

int main(int argc, char **argv) {
    const int failed = Catch::Session().run(argc, argv);
    if (failed) return failed;
    const bool ran_on_gpu = convt3d::cuda_available() && !convt3d::kernel_names(convt3d::Device::cuda).empty();
    return ran_on_gpu ? 0 : 77;
}
