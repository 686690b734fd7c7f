// Double-precision gradients of ConvTranspose3d in the scatter form: every (input element,
// kernel tap) pair that the forward pass connects to an output element adds its share into
// grad_input and grad_weight. Deliberately a different loop structure from the kernels'
// gather form, and sharing no code with the generators or the runtime.
#pragma once

#include "convt3d/convt3d.hpp"

#include <vector>

namespace convt3d::reference {

struct Gradients {
    std::vector<double> grad_input;   // input shape
    std::vector<double> grad_weight;  // (Cin, Cout/groups, kD, kH, kW)
    std::vector<double> grad_bias;    // (out_channels), computed whatever p.bias says
};

// input: rank 5 (N,C,D,H,W) or 4 (C,D,H,W); weight (Cin, Cout/groups, kD, kH, kW);
// grad_output: the output shape (see output_shape in reference.h).
Gradients backward(const Params &p, const Shape &input_shape, const std::vector<float> &input,
                   const std::vector<float> &weight, const std::vector<float> &grad_output);

}  // namespace convt3d::reference
