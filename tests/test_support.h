// Shared by the CPU and CUDA tests (and the others): random legal parameters aimed at one
// kernel variant, random tensors, fenced and NaN-poisoned runs, and the comparison against
// the double-precision scatter reference (reference/reference.h).
//
// Environment switches for longer runs (the defaults are what CTest runs):
//   CONVT3D_TEST_SEED=<n>   another fixed seed for the random cases
//   CONVT3D_TEST_SCALE=<n>  n times as many random cases
#pragma once

#include "convt3d/convt3d.hpp"

#include <cstdint>
#include <optional>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace convt3d::testing {

struct Case {
    Params params;
    Shape input_shape;  // rank 5, or rank 4 (unbatched)
};

enum class CaseSize {
    small,   // channels up to 8 (24 out for groups == 1), spatial extents up to 13
    medium,  // channels up to 48, spatial extents up to 24: the kernels' full tiles and vectors
};

// A random legal case that kernel_supports(kernel, ...) accepts: kernel 1-5, stride 1-4,
// dilation 1-3 per axis, padding up to cropping the output to one element, legal
// output_padding, groups dividing both channel counts, bias on/off, batch 1-3 or
// unbatched. Constraints read from the kernel's name ("k3s2", "s1", "*_g1") make drawing
// efficient; kernel_supports() is the judge. Throws std::runtime_error if no case is
// found within a bounded number of draws (a kernel whose preconditions the generator
// cannot meet), instead of looping forever.
Case random_case(std::mt19937 &rng, const std::string &kernel, CaseSize size = CaseSize::small);
// The same, drawn with the hints of `name` and judged by `accepts` (for kernels that are not
// the forward pass's: backward_kernel_supports()).
Case random_case(std::mt19937 &rng, const std::string &name, const std::function<bool(const Params &)> &accepts,
                 CaseSize size = CaseSize::small);
std::string describe(const Case &c);

// Uniform in [-1, 1], or (integers = true) small integers in [-3, 3], for which every
// sum the convolution forms is exact in float32.
std::vector<float> random_values(std::mt19937 &rng, int64_t n, bool integers = false);

// Host tensors for one case (bias_values empty when the case has no bias).
struct Inputs {
    Tensor x, w, b;
    std::vector<float> bias_values;
    bool integers = false;
};
Inputs make_inputs(std::mt19937 &rng, const Case &c, bool integers);

// The reference output for these inputs, computed from the host vectors only.
std::vector<double> reference_output(const Case &c, const Inputs &in);

// A buffer on `device` of `offset` + values.size() + `after` floats: `values` from
// `offset` on, `fill` in the margins. The caller's view starts at data() + offset.
Tensor placed(const std::vector<float> &values, int64_t offset, int64_t after, float fill, Device device);

// One call on `device` (inputs copied there with Tensor::to) into an output that is
// poisoned with NaN and lives in the middle of a larger buffer fenced with sentinels,
// so unwritten elements and writes outside the output are both seen.
struct Run {
    KernelChoice choice;
    std::vector<float> output;
    int64_t guard_damaged = 0;   // sentinels a kernel overwrote
    bool inputs_changed = false; // input, weight or bias modified by the call
};
Run run_fenced(const Case &c, const Inputs &in, Device device, const DispatchOptions &opts);

struct Comparison {
    double max_error = 0;    // max |out - ref| / (1 + |ref|) over finite outputs
    int64_t non_finite = 0;  // outputs left NaN (unwritten) or infinite
    int64_t mismatched = 0;  // outputs not exactly equal to the reference (integer data)
    int64_t first_bad = -1;  // index of the worst (or first non-finite) element
    double first_bad_out = 0, first_bad_ref = 0;
    int64_t count = 0;
};
Comparison compare(const std::vector<float> &out, const std::vector<double> &ref);

// "(n, c, d, h, w)" of a flat index into a contiguous tensor of this shape.
std::string position(const Shape &shape, int64_t index);

// Tolerance on Comparison::max_error for float32 accumulation of the case's
// (in_channels/groups)*kD*kH*kW products of values in [-1, 1].
double tolerance(const Case &c);

// Which rarely-drawn situations a set of cases exercised.
struct Coverage {
    int cases = 0;
    int unbatched = 0;
    int no_bias = 0;
    int grouped = 0;           // groups > 1
    int dilated = 0;           // dilation > 1 on some axis
    int output_padded = 0;     // output_padding > 0 on some axis
    int over_padded = 0;       // padding > dilation*(kernel-1) on some axis: output cropped
                               // beyond the full convolution's border
    int gapped = 0;            // stride > dilation*(kernel-1)+1 on some axis: outputs that
                               // no input reaches hold only the bias
    int anisotropic = 0;       // different kernel sizes across axes
    int unit_extent = 0;       // an input spatial extent of 1
    int integer_data = 0;      // exact comparisons
    void add(const Case &c, bool integers);
    Coverage &operator+=(const Coverage &o);
    std::string describe() const;
    // Catch2 checks that the situations every kernel can meet were drawn, and with
    // every_situation also those only a kernel that accepts every layer meets.
    void check_drawn(bool every_situation) const;
};

// Runs `count` small and `medium` larger random cases for `kernel` on `device` (forcing
// `isa` on the CPU), each checked against the reference with Catch2 assertions: every
// output written and finite, nothing written outside it, inputs untouched, the forced
// kernel and ISA really used, exact results on integer data (every other case) and within
// tolerance() on float data, bitwise identical on a repeated run (every 8th case). Stops
// at the first failing case, after reporting it with its parameters.
Coverage sweep_kernel(std::mt19937 &rng, const std::string &kernel, Device device, std::optional<CpuIsa> isa,
                      int count, int medium);

// Parameters in torch.nn.ConvTranspose3d's argument order.
Params make_params(int64_t in_channels, int64_t out_channels, Triple kernel_size, Triple stride = {1, 1, 1},
                   Triple padding = {0, 0, 0}, Triple output_padding = {0, 0, 0}, int64_t groups = 1,
                   bool bias = true, Triple dilation = {1, 1, 1});

// One group's layer of a grouped one: channels divided by groups, groups = 1.
Params one_group_of(Params p);

// The seed example's layer: ConvTranspose3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2)).
Params seed_example_params();

// Hand-picked edge cases: output cropping by large padding, output_padding, bias-only
// gaps, dilation, depthwise and grouped channels, 1x1x1 kernels, unbatched inputs, unit
// extents, wide rows.
struct NamedCase {
    std::string what;
    Case c;
};
std::vector<NamedCase> edge_cases();

// Catch2 checks of one run_fenced() result against the reference: every element written,
// nothing outside the output, inputs untouched, exact on integer data and within
// tolerance() on float data.
void check_run(const Case &c, const Run &r, const std::vector<double> &ref, bool integers);

// Runs one case through default dispatch and through every kernel of `device` that
// supports it (on every supported ISA on the CPU), on float and integer data, checking
// each run against the reference with Catch2 assertions; returns the number of runs.
int check_case_everywhere(const Case &c, Device device, uint32_t seed);

// The CPU ISAs this machine runs, best first.
std::vector<CpuIsa> supported_isas();

// CONVT3D_TEST_SEED or the default; a seed per (test, name) so one sweep's cases do not
// depend on which sweeps ran before it.
uint32_t test_seed(uint32_t base, const std::string &name = "");
// n scaled by CONVT3D_TEST_SCALE (default 1).
int scaled(int n);

// What `call` writes to stderr while CONVT3D_VERBOSE=1 (the runtime names each kernel it
// runs there), captured through a temporary file.
std::string verbose_stderr(const std::function<void()> &call);

}  // namespace convt3d::testing
