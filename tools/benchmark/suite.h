// The benchmark suite (shared/bench/suite.json) as convt3d parameters, and the data of a case.
#pragma once

#include "convt3d/convt3d.hpp"

#include <string>
#include <vector>

namespace convt3d::bench {

struct SuiteCase {
    std::string name;
    bool cpu = false, gpu = false;
    Params params;
    Shape input_shape;
    double flops() const;  // 2 * the layer's multiply-adds (convt3d::multiply_adds: what padding crops excluded)
    // The bytes a pass moves at least: every tensor it reads once and the one it writes once
    // (float32). Against the triad bandwidth, for memory-bound layers.
    double forward_bytes() const;      // input, weight and bias in; output out
    double grad_input_bytes() const;   // grad_output and weight in; grad_input out
    double grad_weight_bytes() const;  // input and grad_output in; grad_weight (and grad_bias) out
};

std::vector<SuiteCase> load_suite(const std::string &path);

// The same random input, weight and bias for every library (host memory, PyTorch layouts:
// input NCDHW, weight (Cin, Cout/groups, kD, kH, kW), bias (Cout) or empty).
struct CaseData {
    Shape x_shape, w_shape, y_shape;
    std::vector<float> x, w, b;
};
CaseData make_case_data(const SuiteCase &c);
// The same random grad_output (the output's shape) for the backward comparisons and tuning.
std::vector<float> make_grad_output(const CaseData &d);

// What one library did on one case.
struct RunResult {
    double median_ms = -1;     // negative: did not run, see `why`
    double fastest_ms = -1;    // the fastest timed run (noise only ever adds time)
    std::string what;          // kernel / implementation that ran, layouts
    std::string why;           // why it did not run
    std::vector<float> y;      // host copy of the output (NCDHW) of the last run, for a cross-check
};

}  // namespace convt3d::bench
