// The CUDA backward kernels against the reference, with the same random sweep and edge
// cases as the CPU backward tests (backward_support). Without a GPU (or in a build
// configured with CONVT3D_ENABLE_CUDA=OFF) they say "CUDA backward tests SKIPPED", check
// that CUDA requests fail with BackendError rather than a crash, and the program exits
// with 77, which CTest reports as "Skipped".
#include "backward_support.h"

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#ifndef CONVT3D_TEST_CUDA_BUILT
#define CONVT3D_TEST_CUDA_BUILT 1
#endif

using namespace convt3d;
using namespace convt3d::testing;

namespace {

bool gpu_run() { return cuda_available() && !backward_kernel_names("grad_input", Device::cuda).empty(); }

}  // namespace

TEST_CASE("the CUDA backward kernels are what CMake configured", "[cuda][backward]") {
    for (const char *g : {"grad_input", "grad_weight", "grad_bias"}) {
        INFO(g);
#if CONVT3D_TEST_CUDA_BUILT
        const auto names = backward_kernel_names(g, Device::cuda);
        REQUIRE_FALSE(names.empty());
        CHECK(names.back() == "generic");
#else
        CHECK(backward_kernel_names(g, Device::cuda).empty());
#endif
    }
}

TEST_CASE("CUDA backward matches the reference on random parameters", "[cuda][backward]") {
    if (!gpu_run()) {
        WARN("CUDA backward tests SKIPPED: "
             << (backward_kernel_names("grad_input", Device::cuda).empty()
                     ? "this build has no CUDA kernels (configured with CONVT3D_ENABLE_CUDA=OFF)"
                     : "no CUDA device/driver on this machine"));
        // The error path, which is what a user without a GPU meets.
        const Params p = make_params(2, 2, {1, 1, 1});
        std::vector<float> x(27 * 2, 1.0f), w(4, 1.0f), g(27 * 2, 1.0f), gi(x.size()), gw(w.size()), gb(2);
        const Shape in_shape{1, 2, 3, 3, 3};
        const TensorView gi_v{gi.data(), in_shape, Device::cuda}, gw_v{gw.data(), weight_shape(p), Device::cuda},
            gb_v{gb.data(), {2}, Device::cuda};
        CHECK_THROWS_AS(conv_transpose3d_backward(ConstTensorView{g.data(), in_shape, Device::cuda},
                                                  ConstTensorView{x.data(), in_shape, Device::cuda},
                                                  ConstTensorView{w.data(), weight_shape(p), Device::cuda}, &gi_v,
                                                  &gw_v, &gb_v, p),
                        BackendError);
        return;
    }
    std::mt19937 rng(test_seed(515151, "backward/cuda"));
    const Coverage cov = sweep_backward(rng, Device::cuda, {}, scaled(80), scaled(6));
    INFO(cov.describe());
    CHECK(cov.cases == scaled(80) + scaled(6));
    CHECK(cov.grouped > 0);
    CHECK(cov.dilated > 0);
    CHECK(cov.unbatched > 0);
    std::mt19937 rng2(test_seed(515152, "backward/cuda/generic"));
    CHECK(sweep_backward(rng2, Device::cuda, {"generic", std::nullopt}, scaled(20), 0).cases == scaled(20));
    WARN("random CUDA backward cases checked: " << cov.describe());
}

TEST_CASE("CUDA backward: edge cases, the module on the GPU, determinism", "[cuda][backward]") {
    if (!gpu_run()) return;  // reported above
    uint32_t seed = 700;
    for (const NamedCase &n : edge_cases()) {
        for (const bool integers : {false, true}) {
            std::mt19937 rng(seed++);
            const BackwardInputs in = make_backward_inputs(rng, n.c, integers);
            INFO(n.what << ": " << describe(n.c));
            CHECK(check_backward_case(n.c, in, Device::cuda, {}));
        }
    }
    // The module on the GPU gives the CPU module's gradients (within rounding), bitwise
    // identical run to run.
    const Params q = make_params(6, 10, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 2);
    ConvTranspose3d cpu_layer(q, 4), gpu_layer(q, 4);
    gpu_layer.to(Device::cuda);
    std::mt19937 rng(9);
    const Shape in_shape{2, 6, 3, 4, 5};
    const Tensor x = Tensor::from_vector(random_values(rng, numel(in_shape)), in_shape);
    const Shape out_shape = output_shape(q, in_shape);
    const Tensor g = Tensor::from_vector(random_values(rng, numel(out_shape)), out_shape);
    const Gradients on_cpu = cpu_layer.backward(x, g);
    const Gradients on_gpu = gpu_layer.backward(x.to(Device::cuda), g.to(Device::cuda));
    const Gradients again = gpu_layer.backward(x.to(Device::cuda), g.to(Device::cuda));
    CHECK(on_gpu.grad_input.device() == Device::cuda);
    for (auto member : {&Gradients::grad_input, &Gradients::grad_weight, &Gradients::grad_bias}) {
        const std::vector<float> gpu = (on_gpu.*member).to_vector();
        std::vector<double> cpu;
        for (float v : (on_cpu.*member).to_vector()) cpu.push_back(v);
        CHECK(compare(gpu, cpu).max_error <= 1e-4);
        CHECK(bitwise_equal((again.*member).to_vector(), gpu));
    }
    CHECK_THROWS_AS(gpu_layer.backward(x, g), Error);  // host tensors for a GPU module
}

int main(int argc, char **argv) {
    const int failed = Catch::Session().run(argc, argv);
    if (failed) return failed;
    return gpu_run() ? 0 : 77;  // 77: CTest's SKIP_RETURN_CODE for this test
}
