// convt3d-benchmark: our kernels and oneDNN side by side on the suite, in one run, with the
// machine's measured FMA peak and memory bandwidth for context.
#include "machine_peak.h"
#include "onednn_runner.h"
#include "suite.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include <unistd.h>

using namespace convt3d;
using namespace convt3d::bench;

namespace {

double our_median_ms(const SuiteCase &c, int repeats, Device device, std::string *kernel) {
    ConvTranspose3d layer(c.params, 1);
    layer.to(device);
    Tensor x(c.input_shape);
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = u(rng);
    const Tensor xd = x.to(device);
    std::vector<double> times;
    for (int i = 0; i <= repeats; i++) {
        const auto t0 = std::chrono::steady_clock::now();
        const Tensor y = layer.forward(xd);
        if (device == Device::cuda) y.to_vector();  // a synchronising copy; CUDA timing is issue 4's
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i > 0) times.push_back(ms);
    }
    *kernel = choose_kernel(c.params, device).describe();
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"convt3d-benchmark: convt3d vs oneDNN on the benchmark suite"};
    std::string suite_path = CONVT3D_DEFAULT_SUITE, only, device_name = "cpu";
    int repeats = 10, threads = 0;
    bool markdown = false;
    app.add_option("--suite", suite_path, "suite.json")->capture_default_str();
    app.add_option("--cases", only, "comma-separated case names (default: all for the device)");
    app.add_option("--repeats", repeats, "timed runs per case (median reported)")->capture_default_str();
    app.add_option("--threads", threads, "threads for both libraries (default: all cores)");
    app.add_option("--device", device_name)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
    app.add_flag("--markdown", markdown, "print a Markdown table");
    CLI11_PARSE(app, argc, argv);

    const int nthreads = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    // OpenMP (oneDNN) reads OMP_NUM_THREADS when it loads, before main: set both pools'
    // variables and start again so that both libraries run on the same number of threads.
    const std::string n = std::to_string(nthreads);
    const char *omp = std::getenv("OMP_NUM_THREADS");
    if (!omp || n != omp) {
        setenv("HL_NUM_THREADS", n.c_str(), 1);
        setenv("OMP_NUM_THREADS", n.c_str(), 1);
        execv("/proc/self/exe", argv);
        std::perror("convt3d-benchmark: re-exec failed");
        return 1;
    }
    setenv("HL_NUM_THREADS", n.c_str(), 1);
    const Device device = device_name == "cuda" ? Device::cuda : Device::cpu;
    if (device == Device::cuda && !cuda_available()) {
        std::fprintf(stderr, "convt3d-benchmark: no CUDA device on this machine\n");
        return 1;
    }

    try {
        const double peak = fma_peak_gflops(nthreads);
        const double bw = triad_bandwidth_gbs(nthreads);
        std::printf("machine: %d threads, %s, measured FMA peak %.0f GFLOP/s, triad bandwidth %.1f GB/s; "
                    "oneDNN %s\n\n",
                    nthreads, to_string(best_cpu_isa()), peak, bw, onednn_version().c_str());
        const char *fmt_md = "| %s | %.2f | %s | %s | %.1f | %.1f%% | %s |\n";
        if (markdown) {
            std::printf("| case | convt3d ms | oneDNN ms | oneDNN/convt3d | convt3d GFLOP/s | %% of FMA peak | kernel |\n"
                        "|---|---|---|---|---|---|---|\n");
        } else {
            std::printf("%-18s %11s %11s %8s %9s %8s  %s\n", "case", "convt3d ms", "oneDNN ms", "ratio", "GFLOP/s",
                        "%peak", "kernel");
        }
        std::vector<double> ratios;
        for (const SuiteCase &c : load_suite(suite_path)) {
            if (!only.empty() && ("," + only + ",").find("," + c.name + ",") == std::string::npos) continue;
            if (only.empty() && !(device == Device::cpu ? c.cpu : c.gpu)) continue;
            std::string kernel, why;
            const double ours = our_median_ms(c, repeats, device, &kernel);
            const double theirs = device == Device::cpu ? onednn_median_ms(c, repeats, &why) : -1;
            const double gflops = c.flops() / ours / 1e6;
            char theirs_s[32] = "n/a", ratio_s[32] = "n/a";
            if (theirs > 0) {
                std::snprintf(theirs_s, sizeof theirs_s, "%.2f", theirs);
                std::snprintf(ratio_s, sizeof ratio_s, "%.2fx", theirs / ours);
                ratios.push_back(theirs / ours);
            }
            if (markdown) {
                std::printf(fmt_md, c.name.c_str(), ours, theirs_s, ratio_s, gflops, 100 * gflops / peak,
                            kernel.c_str());
            } else {
                std::printf("%-18s %11.2f %11s %8s %9.1f %7.1f%%  %s\n", c.name.c_str(), ours, theirs_s, ratio_s,
                            gflops, 100 * gflops / peak, kernel.c_str());
            }
            if (theirs <= 0 && device == Device::cpu) std::printf("  (oneDNN: %s)\n", why.c_str());
        }
        if (!ratios.empty()) {
            double log_sum = 0;
            for (double r : ratios) log_sum += std::log(r);
            std::printf("\ngeometric mean of oneDNN/convt3d over %zu cases: %.2fx (>1: convt3d faster)\n", ratios.size(),
                        std::exp(log_sum / double(ratios.size())));
        }
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "convt3d-benchmark: error: %s\n", e.what());
        return 1;
    }
}
