// The CUDA kernels against the reference, with the same random sweep and edge cases as the
// CPU tests (test_support). Without a GPU (or in a build configured with
// CONVT3D_ENABLE_CUDA=OFF) these tests say "CUDA tests SKIPPED", check that CUDA requests
// fail with BackendError rather than a crash, and the program exits with 77, which CTest
// reports as "Skipped".
#include "test_support.h"

#include "reference.h"

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#ifndef CONVT3D_TEST_CUDA_BUILT
#define CONVT3D_TEST_CUDA_BUILT 1
#endif

using namespace convt3d;
using namespace convt3d::testing;

namespace {

constexpr int kSmallCasesPerKernel = 80;
constexpr int kMediumCasesPerKernel = 6;

bool gpu_run() { return cuda_available() && !kernel_names(Device::cuda).empty(); }

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("the CUDA part of the build is what CMake configured", "[cuda]") {
#if CONVT3D_TEST_CUDA_BUILT
    INFO("configured with CONVT3D_ENABLE_CUDA=ON");
    const auto names = kernel_names(Device::cuda);
    REQUIRE_FALSE(names.empty());
    CHECK(names.back() == "generic");
#else
    INFO("configured with CONVT3D_ENABLE_CUDA=OFF");
    CHECK(kernel_names(Device::cuda).empty());
    CHECK_FALSE(cuda_available());
#endif
}

TEST_CASE("CUDA kernels match the reference on random parameters", "[cuda][forward]") {
    if (!gpu_run()) {
        if (kernel_names(Device::cuda).empty()) {
            WARN("CUDA tests SKIPPED: this build has no CUDA kernels (configured with CONVT3D_ENABLE_CUDA=OFF)");
        } else {
            WARN("CUDA tests SKIPPED: no CUDA device/driver on this machine");
        }
        CHECK_FALSE((cuda_available() && !kernel_names(Device::cuda).empty()));
        // The error path, which is what a user without a GPU meets.
        CHECK_THROWS_AS(Tensor(Shape{2, 2}, Device::cuda), BackendError);
        const Params p = make_params(2, 2, {1, 1, 1});
        Tensor x(Shape{1, 2, 3, 3, 3}), w(weight_shape(p)), b(Shape{2});
        Tensor out(output_shape(p, x.shape()));
        const ConstTensorView xv{x.data(), x.shape(), Device::cuda}, wv{w.data(), w.shape(), Device::cuda};
        const ConstTensorView bv{b.data(), b.shape(), Device::cuda};
        CHECK_THROWS_AS(conv_transpose3d(xv, wv, &bv, TensorView{out.data(), out.shape(), Device::cuda}, p),
                        BackendError);
        ConvTranspose3d layer(p);
        CHECK_THROWS_AS(layer.to(Device::cuda), BackendError);
        CHECK_THROWS_AS(x.to(Device::cuda), BackendError);
        return;
    }
    const int count = scaled(kSmallCasesPerKernel), medium = scaled(kMediumCasesPerKernel);
    int total = 0;
    for (const std::string &kernel : kernel_names(Device::cuda)) {
        std::mt19937 rng(test_seed(424242, kernel + "/cuda"));
        const Coverage cov = sweep_kernel(rng, kernel, Device::cuda, std::nullopt, count, medium);
        INFO(kernel << ": " << cov.describe());
        CHECK(cov.cases == count + medium);
        CHECK(cov.unbatched > 0);
        CHECK(cov.no_bias > 0);
        CHECK(cov.output_padded > 0);
        CHECK(cov.over_padded > 0);
        if (kernel == "generic") {
            CHECK(cov.grouped > 0);
            CHECK(cov.dilated > 0);
            CHECK(cov.gapped > 0);
        }
        total += cov.cases;
    }
    WARN("random CUDA cases checked: " << total);
}

TEST_CASE("CUDA: hand-picked edge cases and the seed example's parameters", "[cuda][forward]") {
    if (!gpu_run()) return;  // reported by the test above
    int runs = 0;
    uint32_t seed = 500;
    for (const NamedCase &n : edge_cases()) {
        INFO(n.what);
        runs += check_case_everywhere(n.c, Device::cuda, seed++);
    }
    Case seed_like{seed_example_params(), {2, 16, 4, 9, 11}};
    runs += check_case_everywhere(seed_like, Device::cuda, seed++);
    CHECK(runs >= 2 * 2 * static_cast<int>(edge_cases().size()));
}

TEST_CASE("CUDA: tensors, dispatch, module and determinism", "[cuda]") {
    if (!gpu_run()) return;
    std::mt19937 rng(9);

    // Tensor copies round-trip, on the device and back.
    const std::vector<float> values = random_values(rng, 1000);
    const Tensor host = Tensor::from_vector(values, {10, 100});
    const Tensor dev = host.to(Device::cuda);
    CHECK(dev.device() == Device::cuda);
    CHECK(dev.shape() == host.shape());
    CHECK(bitwise_equal(dev.to_vector(), values));
    CHECK(bitwise_equal(dev.to(Device::cuda).to_vector(), values));  // device to device
    CHECK(bitwise_equal(dev.to(Device::cpu).to_vector(), values));
    Tensor filled(Shape{3, 5}, Device::cuda);
    filled.fill(2.5f);
    for (float v : filled.to_vector()) CHECK(v == 2.5f);

    // Dispatch: specialised kernels where they apply; no CPU ISA on CUDA.
    Params p = make_params(4, 8, {2, 2, 2}, {2, 2, 2});
    const KernelChoice k2s2 = choose_kernel(p, Device::cuda);
    CHECK(k2s2.kernel != "generic");
    CHECK(k2s2.device == Device::cuda);
    CHECK_FALSE(k2s2.cpu_isa.has_value());
    p.dilation = {2, 2, 2};
    CHECK(choose_kernel(p, Device::cuda).kernel == "generic");
    for (const std::string &k : kernel_names(Device::cuda)) CHECK(kernel_supports(k, p) == (k == "generic"));

    // The module on the GPU agrees with the module on the CPU and with the reference.
    const Params q = make_params(6, 10, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 2);
    ConvTranspose3d cpu_layer(q, 4), gpu_layer(q, 4);
    gpu_layer.to(Device::cuda);
    CHECK(gpu_layer.device() == Device::cuda);
    CHECK(gpu_layer.weight().device() == Device::cuda);
    CHECK(gpu_layer.bias()->device() == Device::cuda);
    const Shape in_shape{2, 6, 3, 4, 5};
    const Tensor x = Tensor::from_vector(random_values(rng, numel(in_shape)), in_shape);
    const Tensor x_gpu = x.to(Device::cuda);
    const Tensor y_gpu = gpu_layer.forward(x_gpu);
    CHECK(y_gpu.device() == Device::cuda);
    CHECK(y_gpu.shape() == output_shape(q, in_shape));
    const std::vector<double> ref = reference::forward(q, in_shape, x.to_vector(), cpu_layer.weight().to_vector(),
                                                       cpu_layer.bias()->to_vector());
    const Case qc{q, in_shape};
    const Comparison cmp = compare(y_gpu.to_vector(), ref);
    CHECK(cmp.non_finite == 0);
    CHECK(cmp.max_error <= tolerance(qc));
    const Comparison cmp_cpu = compare(cpu_layer.forward(x).to_vector(), ref);
    CHECK(cmp_cpu.max_error <= tolerance(qc));
    // Bitwise identical run to run on the GPU.
    CHECK(bitwise_equal(gpu_layer.forward(x_gpu).to_vector(), y_gpu.to_vector()));
    // Mixing devices is an argument error, not a crash.
    CHECK_THROWS_AS(gpu_layer.forward(x), Error);
    CHECK_THROWS_AS(cpu_layer.forward(x_gpu), Error);
    // Back to the CPU.
    gpu_layer.to(Device::cpu);
    CHECK(bitwise_equal(gpu_layer.weight().to_vector(), cpu_layer.weight().to_vector()));
}

TEST_CASE("CUDA: views that start at an offset into a device buffer", "[cuda][unaligned]") {
    if (!gpu_run()) return;
    // A user's view may start anywhere in a cudaMalloc'd buffer (4-byte aligned only).
    std::mt19937 rng(11);
    for (const std::string &kernel : kernel_names(Device::cuda)) {
        const Case c = random_case(rng, kernel, CaseSize::medium);
        INFO(kernel << ": " << describe(c));
        const Inputs in = make_inputs(rng, c, true);
        const Shape out_shape = output_shape(c.params, c.input_shape);
        const int64_t nx = numel(c.input_shape), nw = numel(weight_shape(c.params)), ny = numel(out_shape);
        const std::vector<float> x = in.x.to_vector(), w = in.w.to_vector();
        std::vector<float> all(static_cast<size_t>(1 + nx + 1 + nw + 1 + c.params.out_channels + 1 + ny), 0.0f);
        std::copy(x.begin(), x.end(), all.begin() + 1);
        std::copy(w.begin(), w.end(), all.begin() + 2 + nx);
        std::copy(in.bias_values.begin(), in.bias_values.end(), all.begin() + 3 + nx + nw);
        std::fill(all.end() - ny, all.end(), std::nanf(""));  // the output, poisoned
        Tensor buf = Tensor::from_vector(all, {static_cast<int64_t>(all.size())}).to(Device::cuda);
        float *base = buf.data();
        const ConstTensorView bias{base + 3 + nx + nw, {c.params.out_channels}, Device::cuda};
        float *y = base + 4 + nx + nw + c.params.out_channels;
        try {
            conv_transpose3d(ConstTensorView{base + 1, c.input_shape, Device::cuda},
                             ConstTensorView{base + 2 + nx, weight_shape(c.params), Device::cuda},
                             c.params.bias ? &bias : nullptr, TensorView{y, out_shape, Device::cuda}, c.params,
                             {kernel, std::nullopt});
        } catch (const std::exception &e) {
            FAIL_CHECK("the call threw: " << e.what());
            continue;
        }
        const std::vector<float> after = buf.to_vector();
        const std::vector<float> out(after.end() - ny, after.end());
        const Comparison cmp = compare(out, reference_output(c, in));
        CHECK(cmp.non_finite == 0);
        CHECK(cmp.mismatched == 0);
    }
}

int main(int argc, char **argv) {
    const int failed = Catch::Session().run(argc, argv);
    if (failed) return failed;
    return gpu_run() ? 0 : 77;  // 77: CTest's SKIP_RETURN_CODE for this test
}
