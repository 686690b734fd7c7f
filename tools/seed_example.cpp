// The project's main job: the seed example
//     ConvTranspose3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2))
// built through the module class with a fixed seed, on a random (20, 16, 10, 50, 100) input
// from a fixed seed. Runs the forward pass on the CPU (a warm-up, then the median of a few
// timed runs, as many as fit in a small time budget), prints the output shape, the kernel
// that ran, the time, and the maximum relative error against an independent double-precision
// reference (gather form, written here; it shares no code with the library or with the
// scatter-form reference of the tests). Then the same on CUDA when a device is present.
//
//   convt3d_seed_example [--check-items N]   (batch items compared with the reference; default 2)
//
// Exit status: 0 when every device's error is at most 1e-4, 1 otherwise or on any failure.
#include "convt3d/convt3d.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace convt3d;

namespace {

constexpr double kTolerance = 1e-4;
constexpr double kTimingBudgetMs = 10000;  // for the timed runs after the warm-up, per device
constexpr int kMinRuns = 3, kMaxRuns = 15;

// ---- independent reference -------------------------------------------------------------
// Gather form: every output element sums the input elements that reach it. For each output
// coordinate along an axis the contributing (kernel tap, input index) pairs are listed once:
// o = i*stride - padding + k*dilation  <=>  i = (o + padding - k*dilation) / stride, exact.
struct Tap {
    int64_t k, i;
};

std::vector<std::vector<Tap>> taps_for_axis(int64_t out_size, int64_t in_size, int64_t kernel, int64_t stride,
                                            int64_t padding, int64_t dilation) {
    std::vector<std::vector<Tap>> taps(static_cast<size_t>(out_size));
    for (int64_t o = 0; o < out_size; o++) {
        for (int64_t k = 0; k < kernel; k++) {
            const int64_t num = o + padding - k * dilation;
            if (num < 0 || num % stride != 0) continue;
            const int64_t i = num / stride;
            if (i < in_size) taps[static_cast<size_t>(o)].push_back({k, i});
        }
    }
    return taps;
}

// Returns the reference output of the listed batch items, item after item, each (Cout, Do, Ho, Wo).
std::vector<double> reference_forward(const Params &p, const Shape &in_shape, const std::vector<float> &x,
                                      const std::vector<float> &w, const std::vector<float> &b,
                                      const std::vector<int64_t> &items) {
    const int64_t C = in_shape[1], D = in_shape[2], H = in_shape[3], W = in_shape[4];
    const int64_t CO = p.out_channels, G = p.groups, cin_g = C / G, cout_g = CO / G;
    const int64_t KD = p.kernel_size[0], KH = p.kernel_size[1], KW = p.kernel_size[2];
    // The output size from the formula in torch's documentation, not from the library.
    int64_t out[3];
    const int64_t in[3] = {D, H, W};
    for (int a = 0; a < 3; a++) {
        out[a] = (in[a] - 1) * p.stride[a] - 2 * p.padding[a] + p.dilation[a] * (p.kernel_size[a] - 1) +
                 p.output_padding[a] + 1;
    }
    const int64_t OD = out[0], OH = out[1], OW = out[2];
    const auto td = taps_for_axis(OD, D, KD, p.stride[0], p.padding[0], p.dilation[0]);
    const auto th = taps_for_axis(OH, H, KH, p.stride[1], p.padding[1], p.dilation[1]);
    const auto tw = taps_for_axis(OW, W, KW, p.stride[2], p.padding[2], p.dilation[2]);

    const int64_t plane = OD * OH * OW;
    std::vector<double> y(items.size() * static_cast<size_t>(CO * plane));
    // Work units: (item, output channel) pairs, handed out to all cores.
    const int64_t units = static_cast<int64_t>(items.size()) * CO;
    std::atomic<int64_t> next{0};
    auto worker = [&] {
        for (int64_t u; (u = next.fetch_add(1)) < units;) {
            const int64_t slot = u / CO, co = u % CO, n = items[static_cast<size_t>(slot)];
            const int64_t g = co / cout_g, cg = co % cout_g;
            double *yo = y.data() + (slot * CO + co) * plane;
            for (int64_t od = 0; od < OD; od++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        double acc = b.empty() ? 0.0 : double(b[static_cast<size_t>(co)]);
                        for (int64_t ci = g * cin_g; ci < (g + 1) * cin_g; ci++) {
                            const float *xc = x.data() + ((n * C + ci) * D) * H * W;
                            const float *wc = w.data() + ((ci * cout_g + cg) * KD) * KH * KW;
                            for (const Tap &a : td[static_cast<size_t>(od)])
                                for (const Tap &c : th[static_cast<size_t>(oh)])
                                    for (const Tap &e : tw[static_cast<size_t>(ow)]) {
                                        acc += double(xc[(a.i * H + c.i) * W + e.i]) *
                                               double(wc[(a.k * KH + c.k) * KW + e.k]);
                                    }
                        }
                        yo[(od * OH + oh) * OW + ow] = acc;
                    }
        }
    };
    const unsigned nthreads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < nthreads; t++) pool.emplace_back(worker);
    for (auto &t : pool) t.join();
    return y;
}

// ---- measurement -----------------------------------------------------------------------
double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Measurement {
    double median_ms = 0;
    int runs = 0;
    Tensor output;  // of the last timed run
};

// A warm-up run, then as many timed runs as fit in the budget (kMinRuns..kMaxRuns).
Measurement time_forward(const ConvTranspose3d &layer, const Tensor &x) {
    auto t0 = std::chrono::steady_clock::now();
    Measurement m;
    m.output = layer.forward(x);
    const double warm_ms = ms_since(t0);
    m.runs = std::clamp(static_cast<int>(kTimingBudgetMs / std::max(warm_ms, 1e-3)), kMinRuns, kMaxRuns);
    std::vector<double> times;
    for (int i = 0; i < m.runs; i++) {
        m.output = Tensor();  // free the previous output first, as a caller that drops it would
        t0 = std::chrono::steady_clock::now();
        m.output = layer.forward(x);  // returns after the kernel has finished (also on CUDA)
        times.push_back(ms_since(t0));
    }
    std::sort(times.begin(), times.end());
    m.median_ms = times.size() % 2 ? times[times.size() / 2]
                                   : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
    return m;
}

// max |y - ref| / max |ref| over the checked items; infinite on a non-finite output.
double max_relative_error(const Tensor &y, const std::vector<int64_t> &items, const std::vector<double> &ref,
                          double *max_abs_error) {
    const std::vector<float> out = y.to_vector();
    const size_t item_size = ref.size() / items.size();
    double max_ref = 0, max_err = 0;
    for (double r : ref) max_ref = std::max(max_ref, std::fabs(r));
    for (size_t s = 0; s < items.size(); s++) {
        const float *o = out.data() + static_cast<size_t>(items[s]) * item_size;
        const double *r = ref.data() + s * item_size;
        for (size_t i = 0; i < item_size; i++) {
            if (!std::isfinite(o[i])) return INFINITY;
            max_err = std::max(max_err, std::fabs(double(o[i]) - r[i]));
        }
    }
    *max_abs_error = max_err;
    return max_err / max_ref;
}

std::string items_to_string(const std::vector<int64_t> &items) {
    std::string s;
    for (size_t i = 0; i < items.size(); i++) {
        s += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + std::to_string(items[i]);
    }
    return s;
}

int threads_used() {
    const char *env = std::getenv("HL_NUM_THREADS");
    if (env && std::atoi(env) > 0) return std::atoi(env);
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Runs, times and checks one device; returns whether the error is within the tolerance.
bool report(const char *label, const ConvTranspose3d &layer, const Tensor &x, const std::vector<int64_t> &items,
            const std::vector<double> &ref, int64_t batch) {
    const Measurement m = time_forward(layer, x);
    const KernelChoice choice = choose_kernel(layer.params(), layer.device());
    const Params &p = layer.params();
    const double flops = 2.0 * multiply_adds(p, x.shape());
    double max_abs = 0;
    const double err = max_relative_error(m.output, items, ref, &max_abs);
    const bool ok = err <= kTolerance;
    std::printf("%s output shape %s\n", label, shape_to_string(m.output.shape()).c_str());
    std::printf("      kernel: %s\n", choice.describe().c_str());
    std::printf("      time: %.1f ms (median of %d runs after a warm-up; %.1f GFLOP/s", m.median_ms, m.runs,
                flops / m.median_ms / 1e6);
    if (layer.device() == Device::cpu) std::printf(", %d threads", threads_used());
    std::printf(")\n");
    std::printf("      max relative error: %.2e (max |y - ref| / max |ref|, max |y - ref| = %.2e; batch items %s "
                "of %lld checked against a double-precision reference) %s\n",
                err, max_abs, items_to_string(items).c_str(), static_cast<long long>(batch),
                ok ? "ok" : "ABOVE THE TOLERANCE 1e-4");
    std::fflush(stdout);
    return ok;
}

}  // namespace

int main(int argc, char **argv) {
    int64_t check_items = 2;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--check-items") == 0 && i + 1 < argc) {
            check_items = std::atoll(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: %s [--check-items N]   (N in 1..20, default 2)\n", argv[0]);
            return 2;
        }
    }
    try {
        Params p;
        p.in_channels = 16;
        p.out_channels = 33;
        p.kernel_size = {3, 5, 2};
        p.stride = {2, 1, 1};
        p.padding = {0, 4, 2};
        const uint64_t weight_seed = 0;
        ConvTranspose3d layer(p, weight_seed);

        const Shape in_shape{20, 16, 10, 50, 100};
        const uint32_t input_seed = 2026;
        std::mt19937 rng(input_seed);
        std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
        std::vector<float> values(static_cast<size_t>(numel(in_shape)));
        for (float &v : values) v = uniform(rng);
        const Tensor x = Tensor::from_vector(values, in_shape);
        std::printf("ConvTranspose3d(16, 33, kernel_size=(3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2)), "
                    "weight and bias from seed %llu\n",
                    static_cast<unsigned long long>(weight_seed));
        std::printf("input %s, uniform(-1, 1) from seed %u\n", shape_to_string(in_shape).c_str(), input_seed);

        // Which batch items to check: spread over the batch (first and last for two).
        const int64_t batch = in_shape[0];
        check_items = std::clamp<int64_t>(check_items, 1, batch);
        std::vector<int64_t> items;
        for (int64_t i = 0; i < check_items; i++) {
            items.push_back(check_items == 1 ? 0 : i * (batch - 1) / (check_items - 1));
        }
        const auto t_ref = std::chrono::steady_clock::now();
        const std::vector<double> ref = reference_forward(p, in_shape, values, layer.weight().to_vector(),
                                                          layer.bias()->to_vector(), items);
        std::printf("reference: batch items %s in %.1f s\n\n", items_to_string(items).c_str(),
                    ms_since(t_ref) / 1000);

        bool ok = report("CPU: ", layer, x, items, ref, batch);
        if (cuda_available()) {
            ConvTranspose3d gpu_layer(p, weight_seed);
            gpu_layer.to(Device::cuda);
            ok = report("CUDA:", gpu_layer, x.to(Device::cuda), items, ref, batch) && ok;
        } else {
            std::printf("CUDA: skipped (no CUDA device on this machine)\n");
        }
        if (!ok) std::printf("FAILED: error above the tolerance 1e-4\n");
        return ok ? 0 : 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "convt3d_seed_example: error: %s\n", e.what());
        return 1;
    }
}
