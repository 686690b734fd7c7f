// oneDNN's deconvolution forward on the same case, for the side-by-side comparison.
#pragma once

#include "suite.h"

#include <string>

namespace convt3d::bench {

// Median ms of oneDNN's best implementation on NCDHW user memory: src/dst reorders into
// the layout oneDNN prefers are inside the timing, the weight reorder is done once outside.
// Returns a negative value with `why` set when oneDNN is unavailable or refuses the case.
double onednn_median_ms(const SuiteCase &c, int repeats, std::string *why);
std::string onednn_version();

}  // namespace convt3d::bench
