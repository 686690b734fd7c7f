#include "thread_scaling.h"

#include "alternate.h"
#include "runners.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace convt3d::bench {

namespace {

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct ScalingRow {
    std::string name, kernel;
    RunResult one, many;
};

std::string ms(const RunResult &r) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", r.median_ms);
    return r.median_ms > 0 ? buf : "failed";
}

}  // namespace

int run_thread_scaling(const std::vector<SuiteCase> &cases, bool backward, int threads, int repeats, int rounds,
                       bool markdown) {
    std::printf("thread scaling: convt3d on 1 thread and on %d, %d alternating rounds per case, each a warm-up then "
                "%d timed runs; speed-up = 1-thread ms / %d-thread ms (median of round medians; fastest: of each "
                "side's fastest call)\n\n",
                threads, rounds, repeats, threads);
    std::fflush(stdout);
    std::vector<ScalingRow> rows;
    for (const SuiteCase &c : cases) {
        const CaseData data = make_case_data(c);
        auto on = [&](int count, auto run) {
            return [count, run] {
                set_cpu_threads(count);
                return run();
            };
        };
        auto compare = [&](const std::string &name, auto run) {
            auto [one, many] = alternate(rounds, on(1, run), on(threads, run));
            rows.push_back({name, many.what, std::move(one), std::move(many)});
            const ScalingRow &r = rows.back();
            std::fprintf(stderr, "  %-28s 1 thread %s ms, %d threads %s ms\n", name.c_str(), ms(r.one).c_str(), threads,
                         ms(r.many).c_str());
        };
        if (backward) {
            const std::vector<float> g = make_grad_output(data);
            for (const Gradient which : {Gradient::input, Gradient::weight}) {
                compare(c.name + (which == Gradient::input ? "/grad_input" : "/grad_weight"),
                        [&, which] { return run_convt3d_cpu_backward(c, data, g, which, repeats); });
            }
        } else {
            compare(c.name, [&] { return run_convt3d_cpu(c, data, repeats); });
        }
    }
    set_cpu_threads(threads);

    bool failed = false;
    std::vector<double> speedups, fastest_speedups;
    if (markdown) {
        std::printf("| case | 1 thread ms | %d threads ms | speed-up | fastest calls | results identical | kernel |\n"
                    "|---|---:|---:|---:|---:|---|---|\n",
                    threads);
    } else {
        const std::string many_head = std::to_string(threads) + " threads ms";
        std::printf("%-30s %12s %12s %9s %9s %10s  %s\n", "case", "1 thread ms", many_head.c_str(), "speed-up",
                    "fastest", "identical", "kernel");
    }
    for (const ScalingRow &r : rows) {
        const bool ran = r.one.median_ms > 0 && r.many.median_ms > 0;
        const bool identical = ran && bitwise_equal(r.one.y, r.many.y);
        failed = failed || !identical;
        char speedup[32] = "n/a", fastest[32] = "n/a";
        if (ran) {
            speedups.push_back(r.one.median_ms / r.many.median_ms);
            fastest_speedups.push_back(r.one.fastest_ms / r.many.fastest_ms);
            std::snprintf(speedup, sizeof speedup, "%.2fx", speedups.back());
            std::snprintf(fastest, sizeof fastest, "%.2fx", fastest_speedups.back());
        }
        const char *same = !ran ? "n/a" : identical ? "yes" : "NO";
        const std::string kernel = ran ? r.kernel : r.one.why + r.many.why;
        if (markdown) {
            std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.name.c_str(), ms(r.one).c_str(), ms(r.many).c_str(),
                        speedup, fastest, same, kernel.c_str());
        } else {
            std::printf("%-30s %12s %12s %9s %9s %10s  %s\n", r.name.c_str(), ms(r.one).c_str(), ms(r.many).c_str(),
                        speedup, fastest, same, kernel.c_str());
        }
    }
    if (!speedups.empty()) {
        std::printf("\ngeometric mean of the speed-ups over %zu cases: %.2fx; of the fastest calls': %.2fx\n",
                    speedups.size(), geometric_mean(speedups), geometric_mean(fastest_speedups));
    }
    if (failed) {
        std::fprintf(stderr, "convt3d-benchmark: error: a run failed, or 1 and %d threads gave different results\n",
                     threads);
    }
    return failed ? 1 : 0;
}

}  // namespace convt3d::bench
