// Runs the seed layer, which CMakeLists.txt specialised as "seed_layer", on a small random
// input and checks that the runtime chose that kernel, that it wrote every output, and that
// it agrees with the built-in "generic" kernel. Exits non-zero on any failure.
#include <convt3d/convt3d.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

namespace {

int failures = 0;

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "specialised: FAILED: %s\n", what);
        failures++;
    }
}

// Runs the layer into an output poisoned with NaN, so that unwritten elements show.
convt3d::Tensor run(const convt3d::ConvTranspose3d &layer, const convt3d::Tensor &x,
                    const convt3d::DispatchOptions &opts, convt3d::KernelChoice *choice) {
    convt3d::Tensor y(layer.output_shape(x.shape()));
    y.fill(std::numeric_limits<float>::quiet_NaN());
    const convt3d::ConstTensorView bias = layer.bias()->view();
    *choice = convt3d::conv_transpose3d(x.view(), layer.weight().view(), &bias, y.view(), layer.params(), opts);
    return y;
}

}  // namespace

int main() {
    convt3d::Params p;
    p.in_channels = 16;
    p.out_channels = 33;
    p.kernel_size = {3, 5, 2};
    p.stride = {2, 1, 1};
    p.padding = {0, 4, 2};
    if (!convt3d::cpu_supports(convt3d::CpuIsa::avx2)) {
        // The kernel is compiled for AVX2 only, so the runtime must fall back to its own.
        std::printf("specialised: SKIPPED: this CPU lacks AVX2\n");
        return convt3d::choose_kernel(p, convt3d::Device::cpu).kernel == "seed_layer" ? 1 : 0;
    }

    const convt3d::ConvTranspose3d layer(p, /*seed=*/7);
    convt3d::Tensor x(convt3d::Shape{2, 16, 5, 12, 20});
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = uniform(rng);

    check(convt3d::choose_kernel(p, convt3d::Device::cpu).kernel == "seed_layer",
          "choose_kernel picks seed_layer");
    convt3d::KernelChoice used, reference;
    const convt3d::Tensor y = run(layer, x, {}, &used);
    const convt3d::Tensor want = run(layer, x, {"generic", std::nullopt}, &reference);
    check(used.kernel == "seed_layer" && used.cpu_isa == convt3d::CpuIsa::avx2, "the call ran seed_layer on avx2");
    check(reference.kernel == "generic", "the reference call ran generic");

    double max_err = 0;
    int64_t unwritten = 0;
    for (int64_t i = 0; i < y.numel(); i++) {
        const float a = y.data()[i], b = want.data()[i];
        if (!std::isfinite(a) || !std::isfinite(b)) {
            unwritten++;
            continue;
        }
        max_err = std::fmax(max_err, std::fabs(double(a) - b) / (1 + std::fabs(double(b))));
    }
    check(unwritten == 0, "every output element was written");
    check(max_err < 1e-5, "seed_layer agrees with generic");
    std::printf("specialised: ran %s, output %s, %lld unwritten, max error vs generic %.2e\n",
                used.describe().c_str(), convt3d::shape_to_string(y.shape()).c_str(),
                static_cast<long long>(unwritten), max_err);
    return failures == 0 ? 0 : 1;
}
