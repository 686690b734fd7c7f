// The main job: the seed example ConvTranspose3d(16, 33, (3,5,2), stride=(2,1,1),
// padding=(0,4,2)) on a random (20,16,10,50,100) input, on CPU and, when present, CUDA.
// Prints the output shape, the median time and the error against the reference.
#include "convt3d/convt3d.hpp"

#include "reference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

using namespace convt3d;

namespace {

constexpr int64_t kCheckedItems = 2;  // batch items compared with the (slow) reference

double median_ms(const ConvTranspose3d &layer, const Tensor &x, KernelChoice *choice) {
    std::vector<double> times;
    for (int i = 0; i < 4; i++) {  // the first run is a warm-up
        const auto t0 = std::chrono::steady_clock::now();
        layer.forward(x);
        const auto t1 = std::chrono::steady_clock::now();
        if (i > 0) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(times.begin(), times.end());
    *choice = choose_kernel(layer.params(), x.device());
    return times[times.size() / 2];
}

double max_relative_error(const std::vector<float> &out, const std::vector<double> &ref) {
    double max_abs_ref = 0, max_err = 0;
    for (double r : ref) max_abs_ref = std::max(max_abs_ref, std::fabs(r));
    for (size_t i = 0; i < ref.size(); i++) {
        if (!std::isfinite(out[i])) return INFINITY;
        max_err = std::max(max_err, std::fabs(out[i] - ref[i]));
    }
    return max_err / max_abs_ref;
}

bool report(const char *device, const ConvTranspose3d &layer, const Tensor &x, const std::vector<double> &ref) {
    KernelChoice choice;
    const double ms = median_ms(layer, x, &choice);
    const Tensor y = layer.forward(x);
    std::vector<float> out = y.to_vector();
    out.resize(ref.size());  // the first kCheckedItems batch items
    const double err = max_relative_error(out, ref);
    const Params &p = layer.params();
    const double flops = 2.0 * double(numel(x.shape())) * p.out_channels / p.groups * p.kernel_size[0] *
                         p.kernel_size[1] * p.kernel_size[2];
    std::printf("%-4s  output shape %s  kernel %s  time %.1f ms (median of 3)  %.1f GFLOP/s  "
                "max relative error %.2e (batch items 0-%lld vs double-precision reference)\n",
                device, shape_to_string(y.shape()).c_str(), choice.describe().c_str(), ms, flops / ms / 1e6, err,
                static_cast<long long>(kCheckedItems - 1));
    return err <= 1e-5;
}

}  // namespace

int main() {
    try {
        Params p;
        p.in_channels = 16;
        p.out_channels = 33;
        p.kernel_size = {3, 5, 2};
        p.stride = {2, 1, 1};
        p.padding = {0, 4, 2};
        ConvTranspose3d layer(p, /*seed=*/0);

        const Shape in_shape{20, 16, 10, 50, 100};
        std::mt19937 rng(2026);
        std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
        std::vector<float> values(static_cast<size_t>(numel(in_shape)));
        for (float &v : values) v = uniform(rng);
        const Tensor x = Tensor::from_vector(values, in_shape);
        std::printf("ConvTranspose3d(16, 33, kernel_size=(3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2)) "
                    "on input %s\n", shape_to_string(in_shape).c_str());

        const std::vector<double> ref =
            reference::forward(p, in_shape, values, layer.weight().to_vector(), layer.bias()->to_vector(), 0,
                               kCheckedItems);
        bool ok = report("cpu", layer, x, ref);
        if (cuda_available()) {
            ConvTranspose3d gpu_layer(p, 0);
            gpu_layer.to(Device::cuda);
            ok = report("cuda", gpu_layer, x.to(Device::cuda), ref) && ok;
        } else {
            std::printf("cuda  skipped: no CUDA device on this machine\n");
        }
        if (!ok) std::printf("FAILED: error above 1e-5\n");
        return ok ? 0 : 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "seed_example: error: %s\n", e.what());
        return 1;
    }
}
