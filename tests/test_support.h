// Shared by the CPU and CUDA tests: random parameters per kernel variant, random tensors,
// and the comparison against the double-precision reference.
#pragma once

#include "convt3d/convt3d.hpp"

#include <random>
#include <string>
#include <vector>

namespace convt3d::testing {

struct Case {
    Params params;
    Shape input_shape;
};

// A random legal case that the named kernel supports (kernel 1-5, stride 1-4, dilation
// 1-3, padding, output_padding, groups, bias, batch 1-3 or unbatched, odd sizes).
Case random_case(std::mt19937 &rng, const std::string &kernel);
std::string describe(const Case &c);

std::vector<float> random_values(std::mt19937 &rng, int64_t n);

struct Comparison {
    double max_error = 0;       // max |out - ref| / (1 + |ref|)
    int64_t non_finite = 0;     // outputs left NaN (unwritten) or infinite
    int64_t count = 0;
    int64_t guard_damaged = 0;  // sentinels around the output that a kernel overwrote
};
Comparison compare(const std::vector<float> &out, const std::vector<double> &ref);

// Runs the case on `device` with the output poisoned by NaN and fenced by sentinel values
// on both sides (to catch writes outside it), and compares with the reference.
Comparison run_and_compare(std::mt19937 &rng, const Case &c, Device device, const DispatchOptions &opts);

// Tolerance for float32 accumulation over `terms` products of values in [-1, 1].
double tolerance(const Case &c);

}  // namespace convt3d::testing
