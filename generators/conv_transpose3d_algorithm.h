// The ConvTranspose3d forward algorithm, written once and shared by the generator, the
// tests and the tuner. No scheduling here: schedules live in schedules/.
//
// Gather form. Output position o on one axis receives kernel tap k from input position i
// when o + padding == i * stride + k * dilation. Halide dimension order is the reverse of
// PyTorch's: tensors are (x=W, y=H, z=D, c, n) and the weight is (kx, ky, kz, co_g, ci).
#pragma once

#include "Halide.h"
#include "zero_then_copy.h"

#include <array>
#include <vector>

namespace convt3d {

// What is fixed at compile time for one axis (0 = known only at run time). When stride and
// kernel are fixed and dilation is 1, the axis is decomposed by stride phase: output o
// only visits the ceil(k/s) taps k = (o + pad) % s + s*j, so no zero is multiplied.
struct AxisConstants {
    int stride = 0;
    int kernel = 0;
    int dilation = 0;

    bool phase_decomposed() const { return stride > 0 && kernel > 0 && dilation == 1; }
};

struct Axis {
    Halide::Expr stride, dilation, padding;  // run-time values (ignored where constant)
    Halide::Expr kernel_extent;              // the weight's extent on this axis
    Halide::Expr input_min, input_extent;
    AxisConstants constants;
};

// One reduction index j on one axis, for output coordinate o.
struct Tap {
    Halide::Expr kernel_index;
    Halide::Expr input_index;
    Halide::Expr valid;  // whether tap j really connects o to input_index
};

inline Halide::Expr tap_count(const Axis &a) {
    const AxisConstants &k = a.constants;
    if (k.phase_decomposed()) return (k.kernel + k.stride - 1) / k.stride;
    if (k.kernel > 0) return k.kernel;
    return a.kernel_extent;
}

inline Tap tap(const Axis &a, const Halide::Expr &o, const Halide::Expr &j) {
    using namespace Halide;
    const AxisConstants &k = a.constants;
    Expr t = o + a.padding;
    if (k.phase_decomposed()) {
        Expr kernel_index = t % k.stride + k.stride * j;
        // The clamp only tells bounds inference that the weight is read inside [0, k);
        // taps past the kernel end are masked by `valid`.
        return {min(kernel_index, k.kernel - 1), t / k.stride - j,
                k.kernel % k.stride == 0 ? Internal::const_true() : kernel_index < k.kernel};
    }
    Expr stride = k.stride > 0 ? Expr(k.stride) : a.stride;
    Expr dilation = k.dilation > 0 ? Expr(k.dilation) : a.dilation;
    Expr shifted = t - j * dilation;  // = input_index * stride when the tap connects
    Expr valid = k.stride == 1 ? Internal::const_true() : shifted % stride == 0;
    return {j, shifted / stride, valid};
}

struct ConvTranspose3dFuncs {
    Halide::Func output;       // (x, y, z, c, n)
    Halide::Func accumulator;  // bias, then the reduction over r
    Halide::Func padded_input; // the input, zero outside its bounds
    Halide::Func weight;       // as given: (kx, ky, kz, co_g, ci)
    // Where a schedule wants the weight in another layout, the generator reads it through
    // a packed copy (see schedules/) and keeps that Func here for the schedule.
    Halide::Func packed_weight;
    Halide::RDom r;            // (jx, jy, jz, ci within the group)
    Halide::Var x, y, z, c, n;
    // Run-time conditions under which the inner loop simplifies a lot (a unit x stride
    // turns per-lane divisions into dense loads), most specialised first. Schedules should
    // specialize on them in this order.
    std::vector<Halide::Expr> fast_paths;
    // The x stride when x is decomposed by stride phase at compile time, else 0.
    int x_phases = 0;
    // Phase-major x (see FormulationOptions): the accumulator is (q, ph, y, z, c, n) with
    // x = q * x_phases + ph; otherwise it is (x, y, z, c, n).
    bool x_phase_major = false;
    Halide::Var q, ph;
};

// Choices of formulation that leave the result unchanged but suit different schedules.
struct FormulationOptions {
    // groups is known to be 1, so the input channel no longer depends on the output channel.
    bool single_group = false;
    // Prune x taps that do not connect with the RDom predicate, like y and z. Schedules
    // that vectorise over x want the mask in the value instead: a per-lane predicate would
    // scalarise the loop.
    bool prune_x_taps = false;
    // With x phase-decomposed, accumulate over (q, ph), x = q * stride + ph: a vector over q
    // then sees one weight per tap and dense input loads, and x taps prune per phase.
    bool x_phase_major = false;
    // The zero-padded input as zeros overwritten by the input (zero_then_copy), for schedules
    // that materialise it: a boundary condition's select makes every vector that crosses the
    // border a gather, and rows of a few vectors have little else.
    bool padding_by_copy = false;
    // Skip the (y, z) taps that read the input's zero padding (gan_k4s2p1: a quarter of
    // them) instead of multiplying zeros. For schedules whose y and z loops are outside the
    // reduction; elsewhere the test lands in the inner loop.
    bool prune_padding_rows = false;
};

// input: (x, y, z, ci, n); weight: (kx, ky, kz, co_g, ci); bias: (c) (pass zeros when the
// module has no bias). axes: x, y, z. Reads outside the input are zero.
inline ConvTranspose3dFuncs define_conv_transpose3d(const Halide::Func &input, const Halide::Func &weight,
                                                    const Halide::Func &bias,
                                                    const std::array<Axis, 3> &axes,
                                                    const Halide::Expr &in_channels_per_group,
                                                    const Halide::Expr &out_channels_per_group,
                                                    const FormulationOptions &options = {}) {
    using namespace Halide;
    ConvTranspose3dFuncs f;
    f.output = Func("conv_transpose3d");
    f.accumulator = Func("accumulator");
    f.weight = weight;
    f.x = Var("x"), f.y = Var("y"), f.z = Var("z"), f.c = Var("c"), f.n = Var("n");
    f.q = Var("q"), f.ph = Var("ph");
    if (axes[0].constants.phase_decomposed()) f.x_phases = axes[0].constants.stride;
    f.x_phase_major = options.x_phase_major && f.x_phases > 0;
    // The output x coordinate that the accumulator's own coordinates stand for.
    const Expr out_x = f.x_phase_major ? f.q * f.x_phases + f.ph : Expr(f.x);

    const Region input_box = {{axes[0].input_min, axes[0].input_extent},
                              {axes[1].input_min, axes[1].input_extent},
                              {axes[2].input_min, axes[2].input_extent}};
    Func zero_padded = f.padded_input = options.padding_by_copy ? zero_then_copy(input, input_box)
                                                                : BoundaryConditions::constant_exterior(input, 0.0f, input_box);

    f.r = RDom({{0, tap_count(axes[0])}, {0, tap_count(axes[1])}, {0, tap_count(axes[2])},
                {0, in_channels_per_group}},
               "r");
    Tap tx = tap(axes[0], out_x, f.r.x);
    Tap ty = tap(axes[1], f.y, f.r.y);
    Tap tz = tap(axes[2], f.z, f.r.z);
    // Taps that do not connect are pruned from the iteration space (x's too, unless it
    // stays in the value: see FormulationOptions).
    const bool prune_x_taps = options.prune_x_taps || f.x_phase_major;
    Expr pruned = prune_x_taps ? ty.valid && tz.valid && tx.valid : ty.valid && tz.valid;
    if (options.prune_padding_rows) {
        auto inside = [](const Tap &t, const Axis &a) {
            return t.input_index >= a.input_min && t.input_index < a.input_min + a.input_extent;
        };
        pruned = pruned && inside(ty, axes[1]) && inside(tz, axes[2]);
    }
    pruned = simplify(pruned);
    if (!Internal::is_const_one(pruned)) f.r.where(pruned);

    // Most specialised first: unit x and y strides also drop the per-row division by the
    // y stride (an integer division by a run-time value costs tens of cycles).
    if (axes[0].constants.stride == 0) {
        if (axes[1].constants.stride == 0) f.fast_paths.push_back(axes[0].stride == 1 && axes[1].stride == 1);
        f.fast_paths.push_back(axes[0].stride == 1);
    }

    const bool single_group = options.single_group;
    Expr group = single_group ? Expr(0) : f.c / out_channels_per_group;
    Expr co_in_group = single_group ? Expr(f.c) : f.c % out_channels_per_group;  // (not c - group*n: bounds inference
                                                      // would then allow negative indices)
    Expr ci = group * in_channels_per_group + f.r.w;

    Expr tap_input = zero_padded(tx.input_index, ty.input_index, tz.input_index, ci, f.n);
    Expr x_masked_input = prune_x_taps ? tap_input : select(tx.valid, tap_input, 0.0f);
    std::vector<Var> acc_args{f.x, f.y, f.z, f.c, f.n};
    if (f.x_phase_major) acc_args = {f.q, f.ph, f.y, f.z, f.c, f.n};
    f.accumulator(acc_args) = bias(f.c);
    f.accumulator(acc_args) +=
        x_masked_input * weight(tx.kernel_index, ty.kernel_index, tz.kernel_index, co_in_group, ci);
    if (f.x_phase_major) {
        f.output(f.x, f.y, f.z, f.c, f.n) = f.accumulator(f.x / f.x_phases, f.x % f.x_phases, f.y, f.z, f.c, f.n);
    } else {
        f.output(f.x, f.y, f.z, f.c, f.n) = f.accumulator(f.x, f.y, f.z, f.c, f.n);
    }
    return f;
}

}  // namespace convt3d
