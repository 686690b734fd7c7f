// How two runs are compared on this shared, noisy machine: in alternating rounds, so that a
// change in the machine's load falls on both.
#pragma once

#include "runners.h"
#include "suite.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace convt3d::bench {

inline double geometric_mean(const std::vector<double> &v) {
    double log_sum = 0;
    for (double x : v) log_sum += std::log(x);
    return v.empty() ? 0 : std::exp(log_sum / double(v.size()));
}

// Times two runs (two libraries, or one at two thread counts) in `rounds` alternating rounds;
// each side's time is the median of its per-round medians, and its fastest call the fastest
// of every round. A side that fails keeps its first failure.
template<typename Ours, typename Theirs>
std::pair<RunResult, RunResult> alternate(int rounds, Ours ours, Theirs theirs) {
    RunResult a, b;
    std::vector<double> ta, tb, fa, fb;
    auto round = [](auto &run, RunResult &kept, std::vector<double> &medians, std::vector<double> &fastest,
                    bool first) {
        if (!first && kept.median_ms <= 0) return;
        RunResult r = run();
        if (first || r.median_ms <= 0) kept = r;
        if (r.median_ms > 0) {
            medians.push_back(r.median_ms);
            fastest.push_back(r.fastest_ms);
        }
    };
    for (int i = 0; i < rounds; i++) {
        round(ours, a, ta, fa, i == 0);
        round(theirs, b, tb, fb, i == 0);
    }
    auto summarise = [](RunResult &r, const std::vector<double> &medians, const std::vector<double> &fastest) {
        if (r.median_ms <= 0) return;
        r.median_ms = median(medians);
        r.fastest_ms = *std::min_element(fastest.begin(), fastest.end());
    };
    summarise(a, ta, fa);
    summarise(b, tb, fb);
    return {a, b};
}

}  // namespace convt3d::bench
