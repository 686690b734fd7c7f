// convt3d-benchmark: convt3d side by side with oneDNN (CPU) or cuDNN (CUDA) on the cases of
// shared/bench/suite.json, in one run, on the same data, with the machine's measured FMA peak
// and memory bandwidth for context. Every case's outputs are cross-checked between the two
// libraries, so that the timings compare the same computation.
//
//   convt3d-benchmark [--suite FILE] [--cases a,b] [--repeats N] [--rounds R] [--threads N] [--markdown]
//                     [--device cpu|cuda] [--pass forward|backward] [--scaling]
// --pass backward times the gradient kernels instead, one row each per case: grad_input against
// oneDNN's deconvolution backward_data (cuDNN: convolution forward), and grad_weight (+ grad_bias)
// against backward_weights (cuDNN: backward filter, + backward bias). --scaling times convt3d
// alone on one thread against every thread of the run instead (thread_scaling.h).
#include "alternate.h"
#include "machine_peak.h"
#include "runners.h"
#include "suite.h"
#include "thread_scaling.h"

#include <CLI/CLI.hpp>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

using namespace convt3d;
using namespace convt3d::bench;

namespace {

constexpr double kCrossCheckTolerance = 1e-4;  // max |ours - theirs| / max |theirs|

// Runs this program again with the thread-count variables in its environment: OpenMP (Debian's
// oneDNN) reads OMP_NUM_THREADS when it loads, before main, and Halide's thread pool reads
// HL_NUM_THREADS at its first use. With fewer threads than CPUs the process is also pinned to
// that many CPUs, which is what TBB (PyPI's oneDNN) and OpenMP's defaults go by.
void reexec_with_threads(int threads, char **argv) {
    if (std::getenv("CONVT3D_BENCH_THREADS_SET")) return;
    const std::string n = std::to_string(threads);
    setenv("HL_NUM_THREADS", n.c_str(), 1);
    setenv("OMP_NUM_THREADS", n.c_str(), 1);
    setenv("CONVT3D_BENCH_THREADS_SET", "1", 1);
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) > threads) {
        cpu_set_t pinned;
        CPU_ZERO(&pinned);
        for (int cpu = 0, kept = 0; cpu < CPU_SETSIZE && kept < threads; cpu++) {
            if (CPU_ISSET(cpu, &mask)) {
                CPU_SET(cpu, &pinned);
                kept++;
            }
        }
        sched_setaffinity(0, sizeof pinned, &pinned);
    }
    execv("/proc/self/exe", argv);
    std::perror("convt3d-benchmark: re-exec to set the thread count failed");
    std::exit(1);
}

// max |a - b| / max |b|; infinite on a non-finite value or a size mismatch.
double relative_difference(const std::vector<float> &a, const std::vector<float> &b) {
    if (a.size() != b.size() || a.empty()) return INFINITY;
    double max_b = 0, max_diff = 0;
    for (size_t i = 0; i < a.size(); i++) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
        max_b = std::max(max_b, std::fabs(double(b[i])));
        max_diff = std::max(max_diff, std::fabs(double(a[i]) - double(b[i])));
    }
    return max_b > 0 ? max_diff / max_b : max_diff;
}

std::string fmt(const char *format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

struct Row {
    std::string name, ours_ms, theirs_ms, ratio, fastest_ratio, gflops, peak, fastest_peak, fastest_bandwidth, kernel,
        check;
    // For the % of peak and of bandwidth, which are filled in once the run's ceilings are known.
    double ours_gflops = 0, ours_fastest_gflops = 0, ours_fastest_gbs = 0;
};

void print_table(const std::vector<Row> &rows, bool markdown, const std::string &baseline) {
    const std::string peak_head = "% of peak";
    if (markdown) {
        std::printf("| case | convt3d ms | %s ms | %s/convt3d | fastest calls | convt3d GFLOP/s | %s | "
                    "fastest call's %s | fastest call's %% of bandwidth | convt3d kernel | outputs agree |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
                    baseline.c_str(), baseline.c_str(), peak_head.c_str(), peak_head.c_str());
        for (const Row &r : rows) {
            std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name.c_str(), r.ours_ms.c_str(),
                        r.theirs_ms.c_str(), r.ratio.c_str(), r.fastest_ratio.c_str(), r.gflops.c_str(),
                        r.peak.c_str(), r.fastest_peak.c_str(), r.fastest_bandwidth.c_str(), r.kernel.c_str(),
                        r.check.c_str());
        }
    } else {
        int w = 18;  // the case column, wide enough for every name
        for (const Row &r : rows) w = std::max(w, static_cast<int>(r.name.size()));
        std::printf("%-*s %11s %11s %8s %8s %9s %7s %8s %6s  %-26s %s\n", w, "case", "convt3d ms",
                    (baseline + " ms").c_str(), "ratio", "fastest", "GFLOP/s", "%peak", "%peak-f", "%bw-f",
                    "convt3d kernel", "outputs agree");
        for (const Row &r : rows) {
            std::printf("%-*s %11s %11s %8s %8s %9s %7s %8s %6s  %-26s %s\n", w, r.name.c_str(), r.ours_ms.c_str(),
                        r.theirs_ms.c_str(), r.ratio.c_str(), r.fastest_ratio.c_str(), r.gflops.c_str(),
                        r.peak.c_str(), r.fastest_peak.c_str(), r.fastest_bandwidth.c_str(), r.kernel.c_str(),
                        r.check.c_str());
        }
    }
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"convt3d-benchmark: convt3d vs oneDNN (CPU) or cuDNN (CUDA) on the benchmark suite"};
    std::string suite_path = CONVT3D_DEFAULT_SUITE, only, device_name = "cpu", pass = "forward";
    int repeats = 10, threads = 0, rounds = 3;
    bool markdown = false, scaling = false;
    app.add_option("--suite", suite_path, "suite.json")->capture_default_str();
    app.add_option("--cases", only, "comma-separated case names (default: the device's cases)");
    app.add_option("--repeats", repeats, "timed runs per case after a warm-up (median reported)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--rounds", rounds, "alternating rounds of both libraries per case (median of round medians)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--threads", threads, "CPU threads for both libraries (default: all cores)")
        ->check(CLI::PositiveNumber);
    app.add_option("--device", device_name)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
    app.add_option("--pass", pass, "forward, or backward (gradients)")
        ->check(CLI::IsMember({"forward", "backward"}))
        ->capture_default_str();
    app.add_flag("--markdown", markdown, "print a Markdown table (for BENCHMARKS.md)");
    app.add_flag("--scaling", scaling, "CPU: convt3d on 1 thread against --threads (default: all cores), no oneDNN");
    CLI11_PARSE(app, argc, argv);

    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int nthreads = threads > 0 ? threads : hw;
    reexec_with_threads(nthreads, argv);
    const Device device = device_name == "cuda" ? Device::cuda : Device::cpu;
    const bool backward = pass == "backward";

    try {
        std::vector<SuiteCase> cases;
        std::set<std::string> wanted;
        if (!only.empty()) {
            std::stringstream ss(only);
            for (std::string name; std::getline(ss, name, ',');) wanted.insert(name);
        }
        const bool named = !wanted.empty();  // (wanted empties as names are found)
        for (const SuiteCase &c : load_suite(suite_path)) {
            if (named ? wanted.erase(c.name) > 0 : (device == Device::cpu ? c.cpu : c.gpu)) {
                cases.push_back(c);
            }
        }
        if (!wanted.empty()) throw std::runtime_error("no case named '" + *wanted.begin() + "' in " + suite_path);
        if (scaling) {
            if (device != Device::cpu) throw std::runtime_error("--scaling compares CPU thread counts: CPU only");
            return run_thread_scaling(cases, backward, nthreads, repeats, rounds, markdown);
        }

        std::string baseline;
        double peak = 0, bandwidth = 0;
        if (device == Device::cpu) {
            baseline = "oneDNN";
            const MachinePeak m = measure_machine(nthreads);
            peak = m.fma_n;
            bandwidth = m.triad_n;
            std::printf("machine: %s, %d of %d hardware threads used; measured %s FMA peak %.0f GFLOP/s on 1 thread, "
                        "%.0f on %d; triad bandwidth %.1f GB/s on %d\n",
                        to_string(best_cpu_isa()), nthreads, hw, m.isa.c_str(), m.fma_1, m.fma_n, nthreads, m.triad_n,
                        nthreads);
            std::printf("baseline: %s\n", onednn_description().c_str());
        } else {
            if (!cuda_available()) {
                std::fprintf(stderr, "convt3d-benchmark: no CUDA device on this machine, no CUDA driver, or a build "
                                     "without CUDA kernels (CONVT3D_ENABLE_CUDA=OFF): the CUDA comparison did not "
                                     "run\n");
                return 1;
            }
            baseline = "cuDNN";
            std::printf("device: %s, theoretical fp32 FMA peak ", gpu_description(&peak).c_str());
            std::printf("%.0f GFLOP/s\n", peak);
            std::printf("baseline: %s\n", cudnn_description().c_str());
        }
        std::printf("timing: %d alternating rounds per case, each a warm-up then %d timed runs; the median of "
                    "the round medians; output buffers allocated outside the timing; "
                    "ratio = %s ms / convt3d ms (> 1: convt3d faster); fastest = the same ratio of each side's "
                    "fastest call over every round\n\n",
                    rounds, repeats, baseline.c_str());
        std::fflush(stdout);

        std::vector<Row> rows;
        std::vector<std::string> notes;
        std::vector<double> ratios, fastest_ratios;
        bool mismatch = false;
        for (const SuiteCase &c : cases) {
            const CaseData data = make_case_data(c);
            // One comparison per row: the forward pass, or each gradient.
            struct Comparison {
                std::string name;
                RunResult ours, theirs;
                double bytes;  // what the pass moves at least
            };
            std::vector<Comparison> comparisons;
            if (backward) {
                const std::vector<float> g = make_grad_output(data);
                for (const Gradient which : {Gradient::input, Gradient::weight}) {
                    const auto [ours, theirs] =
                        device == Device::cpu
                            ? alternate(rounds, [&] { return run_convt3d_cpu_backward(c, data, g, which, repeats); },
                                        [&] { return run_onednn_backward(c, data, g, which, repeats); })
                            : alternate(rounds, [&] { return run_convt3d_cuda_backward(c, data, g, which, repeats); },
                                        [&] { return run_cudnn_backward(c, data, g, which, repeats); });
                    comparisons.push_back({c.name + (which == Gradient::input ? "/grad_input" : "/grad_weight"), ours,
                                           theirs,
                                           which == Gradient::input ? c.grad_input_bytes() : c.grad_weight_bytes()});
                }
            } else {
                const auto [ours, theirs] =
                    device == Device::cpu ? alternate(rounds, [&] { return run_convt3d_cpu(c, data, repeats); },
                                                      [&] { return run_onednn(c, data, repeats); })
                                          : alternate(rounds, [&] { return run_convt3d_cuda(c, data, repeats); },
                                                      [&] { return run_cudnn(c, data, repeats); });
                comparisons.push_back({c.name, ours, theirs, c.forward_bytes()});
            }
            for (const auto &[name, ours, theirs, bytes] : comparisons) {
                Row row{name, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", ours.what, "n/a"};
                if (ours.median_ms > 0) {
                    const double gflops = c.flops() / ours.median_ms / 1e6;
                    row.ours_ms = fmt("%.2f", ours.median_ms);
                    row.gflops = fmt("%.1f", gflops);
                    row.ours_gflops = gflops;
                    if (ours.fastest_ms > 0) {
                        row.ours_fastest_gflops = c.flops() / ours.fastest_ms / 1e6;
                        row.ours_fastest_gbs = bytes / ours.fastest_ms / 1e6;
                    }
                } else {
                    row.kernel = "failed";
                    notes.push_back(name + ": convt3d failed: " + ours.why);
                    mismatch = true;
                }
                if (theirs.median_ms > 0) {
                    row.theirs_ms = fmt("%.2f", theirs.median_ms);
                    notes.push_back(name + ": " + baseline + " " + theirs.what);
                    if (ours.median_ms > 0) {
                        row.ratio = fmt("%.2fx", theirs.median_ms / ours.median_ms);
                        ratios.push_back(theirs.median_ms / ours.median_ms);
                        if (ours.fastest_ms > 0 && theirs.fastest_ms > 0) {
                            row.fastest_ratio = fmt("%.2fx", theirs.fastest_ms / ours.fastest_ms);
                            fastest_ratios.push_back(theirs.fastest_ms / ours.fastest_ms);
                        }
                        const double diff = relative_difference(ours.y, theirs.y);
                        const bool agree = diff <= kCrossCheckTolerance;
                        row.check = (agree ? "yes " : "NO ") + fmt("(%.1e)", diff);
                        mismatch = mismatch || !agree;
                    }
                } else {
                    notes.push_back(name + ": " + baseline + " did not run: " + theirs.why);
                }
                rows.push_back(row);
                // Progress on stderr: the table comes at the end, and a run cut short still says this much.
                std::fprintf(stderr, "  %-18s convt3d %s ms, %s %s ms\n", name.c_str(), row.ours_ms.c_str(),
                             baseline.c_str(), row.theirs_ms.c_str());
            }
        }
        if (device == Device::cpu) {
            // Measured again after the cases, and the higher of the two counts: a peak read
            // while the VM was short of a core would inflate every "% of peak".
            const double again = measure_fma_peak(nthreads);
            const double bandwidth_again = measure_triad(nthreads);
            std::printf("FMA peak measured again after the cases: %.0f GFLOP/s on %d; %% of peak is against %.0f; "
                        "triad bandwidth again %.1f GB/s; %% of bandwidth is against %.1f\n\n",
                        again, nthreads, std::max(peak, again), bandwidth_again, std::max(bandwidth, bandwidth_again));
            peak = std::max(peak, again);
            bandwidth = std::max(bandwidth, bandwidth_again);
        }
        for (Row &row : rows) {
            if (peak > 0 && row.ours_gflops > 0) row.peak = fmt("%.1f%%", 100 * row.ours_gflops / peak);
            if (peak > 0 && row.ours_fastest_gflops > 0) {
                row.fastest_peak = fmt("%.1f%%", 100 * row.ours_fastest_gflops / peak);
            }
            if (bandwidth > 0 && row.ours_fastest_gbs > 0) {
                row.fastest_bandwidth = fmt("%.1f%%", 100 * row.ours_fastest_gbs / bandwidth);
            }
        }
        print_table(rows, markdown, baseline);
        if (!ratios.empty()) {
            std::printf("\ngeometric mean of %s/convt3d over %zu cases: %.2fx (> 1: convt3d faster); of the fastest "
                        "calls' ratios: %.2fx\n",
                        baseline.c_str(), ratios.size(), geometric_mean(ratios), geometric_mean(fastest_ratios));
        }
        std::printf("%% of peak: convt3d GFLOP/s (of the median; %%peak-f: of the fastest call) over the %s "
                    "(the fastest of its runs); GFLOP/s count 2*N*Cin*(Cout/groups) per (input position, tap) "
                    "pair that reaches inside the output (useful multiply-adds: padding's cropped ones and bias "
                    "excluded); %% of bandwidth (%%bw-f): the bytes the pass moves at least (each tensor it reads "
                    "once, the one it writes once) in the fastest call, over the triad bandwidth at this thread "
                    "count (CPU); outputs agree: max |convt3d - %s| / max |%s| <= %.0e\n",
                    device == Device::cpu ? "measured FMA peak at this thread count" : "theoretical fp32 FMA peak",
                    baseline.c_str(), baseline.c_str(), kCrossCheckTolerance);
        std::printf("\n%s implementations:\n", baseline.c_str());
        for (const std::string &n : notes) std::printf("%s%s\n", markdown ? "- " : "  ", n.c_str());
        if (mismatch) {
            std::fprintf(stderr, "convt3d-benchmark: error: a case failed or the outputs of the two libraries differ\n");
            return 1;
        }
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "convt3d-benchmark: error: %s\n", e.what());
        return 1;
    }
}
