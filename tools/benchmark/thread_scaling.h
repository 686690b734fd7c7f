// convt3d-benchmark --scaling: convt3d against itself, on one thread and on every thread of
// the run, in alternating rounds in one process (set_cpu_threads between them), so that the
// speed-up is measured under one machine load rather than across two runs minutes apart.
#pragma once

#include "suite.h"

#include <vector>

namespace convt3d::bench {

// Prints the table; returns 0, or 1 if a run failed or the two counts' results differ in a bit.
int run_thread_scaling(const std::vector<SuiteCase> &cases, bool backward, int threads, int repeats, int rounds,
                       bool markdown);

}  // namespace convt3d::bench
