// Shared by the CPU and CUDA backward tests: fenced, NaN-poisoned backward runs and their
// checks against the double-precision scatter-form reference (reference/reference_backward.h).
// Builds on test_support.h (random cases, inputs, comparison).
#pragma once

#include "test_support.h"

#include "reference_backward.h"

namespace convt3d::testing {

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b);

// A random legal case (see random_case) that the backward kernel `kernel` of grad_input
// or grad_weight accepts ("" or "generic": any legal case).
Case random_backward_case(std::mt19937 &rng, const std::string &kernel, CaseSize size = CaseSize::small);

// The inputs of one backward case: forward inputs plus grad_output (same value kind).
struct BackwardInputs {
    Inputs forward;
    std::vector<float> grad_output;
};
BackwardInputs make_backward_inputs(std::mt19937 &rng, const Case &c, bool integers);

// One conv_transpose3d_backward call on `device` into gradients poisoned with NaN, each in
// the middle of a larger buffer fenced with sentinels (at odd offsets on the CPU).
struct BackwardRun {
    BackwardChoice choice;
    std::vector<float> grad_input, grad_weight, grad_bias;  // empty when not requested
    int64_t guard_damaged = 0;    // sentinels a kernel overwrote
    bool inputs_changed = false;  // input, weight or grad_output modified by the call
};
BackwardRun run_backward_fenced(const Case &c, const BackwardInputs &in, Device device, const DispatchOptions &opts,
                                const GradientRequest &which = {});

// Reference gradients and, per element, the sum of the absolute values of the products
// that form it (the reference on |x|, |w|, |grad_output|): the scale of rounding errors.
struct BackwardReference {
    reference::Gradients value, magnitude;
};
BackwardReference backward_reference(const Case &c, const BackwardInputs &in);

// The layer condition of g1's grad_weight formulation over input channels
// (grad_weight_over_input_where), for an ISA whose channel tile is `tile`: grad_output has at
// least twice the input's positions, or the output channels are no multiple of the tile.
// (The formulation also needs the input channels to be that one tile.)
bool upsamples_or_partial_tile(const Case &c, int64_t tile);

// How many products form one element of each gradient (at most).
struct TermCounts {
    double grad_input, grad_weight, grad_bias;
};
TermCounts term_counts(const Case &c);

// Compares one gradient: every element written and finite; exact on integer data, else
// within a float32 rounding bound (terms products, relative to the magnitude). Catch2
// assertions, with the worst element reported. Returns whether it passed.
bool check_gradient(const char *what, const std::vector<float> &got, const std::vector<double> &ref,
                    const std::vector<double> &magnitude, double terms, bool integers, const Shape &shape);

// A full check of one case on `device` (forcing kernel/ISA through opts): all three
// gradients (grad_bias when the case has bias) against the reference, fences intact,
// inputs unchanged, the kernels that opts asks for reported. Returns whether it passed.
bool check_backward_case(const Case &c, const BackwardInputs &in, Device device, const DispatchOptions &opts);

// Runs `count` random small cases and `medium` larger ones (every other on integer data),
// drawn for opts.kernel, through check_backward_case, plus a repeated run every 4th case that must be bitwise
// identical. Stops at the first failure. Returns the coverage of the cases drawn.
Coverage sweep_backward(std::mt19937 &rng, Device device, const DispatchOptions &opts, int count, int medium);

}  // namespace convt3d::testing
