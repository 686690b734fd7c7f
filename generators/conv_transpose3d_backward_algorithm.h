// The ConvTranspose3d backward algorithms (gradients w.r.t. input, weight and bias),
// written once and shared by the three backward generators. No scheduling here: schedules
// live in schedules/backward_schedules.h.
//
// All three are gather forms: every gradient element is one ordered reduction, so results
// are deterministic (no atomics, no scatter). On one axis the forward pass connects input
// position i, kernel tap k and output position o when o = i * stride - padding + k * dilation,
// so with g = dL/d(output):
//   grad_input(i, ci)         = sum over k, co in ci's group of g(i*s - p + k*d, co) * w(k, co_g, ci)
//                               (an ordinary strided, dilated, grouped convolution of g)
//   grad_weight(k, co_g, ci)  = sum over n, i of x(i, ci, n) * g(i*s - p + k*d, co, n)
//   grad_bias(co)             = sum over n and positions of g(o, co, n)
// where g is zero outside its bounds. Halide dimension order is the reverse of PyTorch's:
// tensors are (x=W, y=H, z=D, c, n) and the weight is (kx, ky, kz, co_g, ci).
#pragma once

#include "Halide.h"
#include "zero_then_copy.h"

#include <array>
#include <vector>

namespace convt3d {

// Run-time geometry of one axis.
struct BackwardAxis {
    Halide::Expr stride, dilation, padding;
};

// The output position that input position i reaches through kernel tap k.
inline Halide::Expr reached(const BackwardAxis &a, const Halide::Expr &i, const Halide::Expr &k) {
    return i * a.stride - a.padding + k * a.dilation;
}

// Whether input position i reaches, through tap k, an output position inside [0, extent).
inline Halide::Expr reaches_inside(const BackwardAxis &a, const Halide::Expr &i, const Halide::Expr &k,
                                   const Halide::Expr &extent) {
    const Halide::Expr o = reached(a, i, k);
    return o >= 0 && o < extent;
}

// Whether no axis has padding: every position the input reaches is then inside grad_output.
inline Halide::Expr no_padding(const std::array<BackwardAxis, 3> &axes) {
    return axes[0].padding == 0 && axes[1].padding == 0 && axes[2].padding == 0;
}

// grad_output, zero outside its spatial extent (channels and batch are always inside): a
// boundary condition, or zeros with grad_output copied over them (by_copy).
inline Halide::Func zero_padded_grad_output(const Halide::Func &grad_output, const std::array<Halide::Expr, 3> &extent,
                                            bool by_copy = false) {
    const Halide::Region box = {{0, extent[0]}, {0, extent[1]}, {0, extent[2]}};
    if (by_copy) return zero_then_copy(grad_output, box);
    return Halide::BoundaryConditions::constant_exterior(grad_output, 0.0f, box);
}

// Choices of formulation that leave the gradients unchanged but suit different schedules.
struct BackwardOptions {
    // groups is known to be 1, so the output channel no longer depends on the input channel.
    bool single_group = false;
    // > 0 (single_group only): the channel tile of a schedule that vectorises over channels.
    // grad_input reads the weight through a copy packed in blocks of that many input
    // channels, so a channel tile's weights are one contiguous stream
    // (GradInputFuncs::packed_weight); grad_weight reads grad_output through a copy in blocks
    // of that many channels (GradWeightFuncs::blocked_grad_output).
    int channel_block = 0;
    // Skip the taps that read grad_output's zero padding instead of multiplying zeros:
    // grad_input skips (y, z) taps (gan_k4s2p1: a quarter of them); grad_weight skips the
    // input planes whose grad_output plane for a z tap is padding (rows too were no faster:
    // the test inside the row loop keeps rows_per_pass's accumulators from registers).
    bool prune_padding_rows = false;
    // grad_output's zero padding as zeros with grad_output copied over them (zero_then_copy),
    // for schedules that materialise it (per task, or grad_input's channel_rows copy): the
    // copy has no gathers at the borders.
    bool padding_by_copy = false;
    // grad_input, with padding_by_copy, if defined: where this holds and no tap reaches outside
    // grad_output (padding 0 on every axis), read it through a boundary condition instead,
    // which then has no borders: one pass where the copy writes zeros over the whole tensor
    // first (vnet_up_k2s2: 67 MB). See GradInputFuncs::no_padding.
    Halide::Expr boundary_condition_where;
    // grad_weight, if defined: the reduction over the input's depth is cut into this many
    // parts of consecutive planes (over_input: of the batch's planes, GradWeightFuncs::
    // OverInput), each summed on its own (GradWeightFuncs::partial_sums), and
    // the parts are then summed in order, so that a schedule can run parts as tasks of their
    // own. Still one fixed order of additions for every element.
    Halide::Expr depth_parts;
    // grad_weight with channel_block, if defined: where it holds, the reduction reads a second
    // copy in blocks (GradWeightFuncs::blocked_grad_output_per_pass), which a schedule can
    // compute at another loop level than blocked_grad_output.
    Halide::Expr second_blocked_copy_where;
    // grad_weight with channel_block, if defined: where it holds, the reduction reads a second
    // formulation vectorised over input channels (GradWeightFuncs::over_input).
    Halide::Expr over_input_where;
};

struct GradInputFuncs {
    Halide::Func output;          // (x, y, z, ci, n)
    Halide::Func accumulator;     // zero, then the reduction over r
    Halide::Func padded_grad_output;
    // With BackwardOptions::boundary_condition_where: grad_output through a boundary
    // condition, which the reduction reads instead of padded_grad_output where no_padding
    // (that condition, and padding 0 on every axis) holds. Schedules materialise both (only
    // the one read is computed) and specialise on no_padding before any other condition, so
    // that a branch reads one of them.
    Halide::Func boundary_grad_output;
    Halide::Expr no_padding;
    Halide::Func weight;          // as given: (kx, ky, kz, co_g, ci)
    // With BackwardOptions::channel_block > 0: the weight packed in blocks of that many
    // input channels, (ci % block, co, kx, ky, kz, ci / block), which the reduction reads
    // instead.
    Halide::Func packed_weight;
    Halide::Expr weight_elements;  // of the whole weight
    Halide::RDom r;               // (kx, ky, kz, co within the group)
    Halide::Var x{"x"}, y{"y"}, z{"z"}, c{"c"}, n{"n"};
    // Run-time conditions under which the inner loop simplifies (an x stride of 1 or 2 turns
    // the grad_output loads of x vectors from gathers into dense or 2-strided loads).
    // Schedules should specialise on them.
    std::vector<Halide::Expr> fast_paths;
};

// grad_output: (x, y, z, co, n) with spatial extents grad_output_extent; weight:
// (kx, ky, kz, co_g, ci) with kernel extents kernel_extent.
inline GradInputFuncs define_grad_input(const Halide::Func &grad_output, const std::array<Halide::Expr, 3> &grad_output_extent,
                                        const Halide::Func &weight, const std::array<Halide::Expr, 3> &kernel_extent,
                                        const std::array<BackwardAxis, 3> &axes,
                                        const Halide::Expr &in_channels_per_group,
                                        const Halide::Expr &out_channels_per_group,
                                        const BackwardOptions &options = {}) {
    using namespace Halide;
    GradInputFuncs f;
    f.weight = weight;
    f.weight_elements = kernel_extent[0] * kernel_extent[1] * kernel_extent[2] * out_channels_per_group *
                        in_channels_per_group;
    const bool single_group = options.single_group;
    const int weight_block = options.channel_block;
    Func weight_read = weight;
    if (weight_block > 0 && single_group) {
        Var ci_in("ci_in"), co("co"), kx("kx"), ky("ky"), kz("kz"), cb("cb"), ci("ci");
        f.packed_weight = Func("packed_weight");
        // Channels past the last one (in a partial last block) repeat it; no output uses them.
        f.packed_weight(ci_in, co, kx, ky, kz, cb) =
            weight(kx, ky, kz, co, min(cb * weight_block + ci_in, in_channels_per_group - 1));
        weight_read = Func("weight_view");
        weight_read(kx, ky, kz, co, ci) = f.packed_weight(ci % weight_block, co, kx, ky, kz, ci / weight_block);
    }
    f.output = Func("grad_input");
    f.accumulator = Func("grad_input_accumulator");
    f.padded_grad_output = zero_padded_grad_output(grad_output, grad_output_extent, options.padding_by_copy);
    Func grad_output_read = f.padded_grad_output;
    if (options.padding_by_copy && options.boundary_condition_where.defined()) {
        f.no_padding = options.boundary_condition_where && no_padding(axes);
        f.boundary_grad_output = zero_padded_grad_output(grad_output, grad_output_extent, false);
        Var x("x"), y("y"), z("z"), c("c"), n("n");
        grad_output_read = Func("grad_output_read");
        grad_output_read(x, y, z, c, n) =
            select(f.no_padding, f.boundary_grad_output(x, y, z, c, n), f.padded_grad_output(x, y, z, c, n));
    }
    f.r = RDom({{0, kernel_extent[0]}, {0, kernel_extent[1]}, {0, kernel_extent[2]}, {0, out_channels_per_group}},
               "r");
    if (options.prune_padding_rows) {
        f.r.where(reaches_inside(axes[1], f.y, f.r.y, grad_output_extent[1]) &&
                  reaches_inside(axes[2], f.z, f.r.z, grad_output_extent[2]));
    }
    Expr group = single_group ? Expr(0) : f.c / in_channels_per_group;
    Expr co = group * out_channels_per_group + f.r.w;
    f.accumulator(f.x, f.y, f.z, f.c, f.n) = 0.0f;
    f.accumulator(f.x, f.y, f.z, f.c, f.n) +=
        grad_output_read(reached(axes[0], f.x, f.r.x), reached(axes[1], f.y, f.r.y), reached(axes[2], f.z, f.r.z),
                         co, f.n) *
        weight_read(f.r.x, f.r.y, f.r.z, f.r.w, f.c);
    f.output(f.x, f.y, f.z, f.c, f.n) = f.accumulator(f.x, f.y, f.z, f.c, f.n);
    f.fast_paths = {axes[0].stride == 1, axes[0].stride == 2};
    return f;
}

struct GradWeightFuncs {
    Halide::Func output;       // (kx, ky, kz, co_g, ci)
    Halide::Func accumulator;  // zero, then the reduction over r
    Halide::Func padded_grad_output;
    Halide::Expr grad_output_channels;  // for schedules that size a copy of it
    // With BackwardOptions::channel_block > 0: padded_grad_output in blocks of that many channels,
    // (c % block, x, y, z, c / block, n), which the reduction reads instead. A channel tile's
    // vectors at successive positions are then adjacent, not a whole position's channels
    // apart (unet_up_k2s2: 64 of every 544 bytes read). Where grad_output has padding
    // (blocked_no_padding false) the blocks are zeros, then grad_output copied over them
    // (the update, over `blocked_inside`): a boundary condition's select makes every vector
    // that crosses the border a gather, and these rows are a vector or two wide, all border.
    // Without padding the pure definition is the blocks, read through the boundary condition
    // (which then reads inside only), and the update is empty.
    Halide::Func blocked_grad_output;
    Halide::Expr blocked_no_padding;
    Halide::Func grad_output;  // as given: the update's source
    // With BackwardOptions::second_blocked_copy_where: the same blocks, read where that holds.
    Halide::Func blocked_grad_output_per_pass;
    Halide::Expr per_pass_where;
    // With BackwardOptions::over_input_where: where that holds (`where`), the gradient is
    // `accumulator` below instead, the same sums read so that a schedule can vectorise over
    // input channels: the input in blocks of channel_block channels, (c % block, x, y, z,
    // c / block, n), and grad_output as given. `r` skips every tap that reaches grad_output's
    // padding, x's as bounds of r.x, so the reads need no test; channels past the last one
    // read the last one (a schedule may compute whole tiles of them). Its parts
    // (BackwardOptions::depth_parts) are runs of the whole batch's planes (n, z), not of the
    // depth alone.
    struct OverInput {
        Halide::Expr where;
        Halide::Func accumulator;
        Halide::Func blocked_input;
        Halide::Func input;  // as given, (x, y, z, ci, n), which blocked_input copies
        Halide::RDom r;
    } over_input;
    std::array<BackwardAxis, 3> axes;
    // With BackwardOptions::depth_parts: (kx, ky, kz, co_g, ci, part), the sum over the
    // part's planes (the accumulator has the part too); output sums the parts in order.
    Halide::Func partial_sums;
    Halide::RDom r;            // (x, y, z, n) over the input (z: in parts, one part's planes)
    Halide::Var kx{"kx"}, ky{"ky"}, kz{"kz"}, co{"co"}, ci{"ci"}, part{"part"};
    std::vector<Halide::Expr> fast_paths;  // as for grad_input (loads along the input's x)
};

// input: (x, y, z, ci, n) with extents input_extent (x, y, z, n); grad_output as above, with
// grad_output_channels channels.
inline GradWeightFuncs define_grad_weight(const Halide::Func &input, const std::array<Halide::Expr, 4> &input_extent,
                                          const Halide::Func &grad_output,
                                          const std::array<Halide::Expr, 3> &grad_output_extent,
                                          const Halide::Expr &grad_output_channels,
                                          const std::array<BackwardAxis, 3> &axes,
                                          const Halide::Expr &in_channels_per_group,
                                          const Halide::Expr &out_channels_per_group,
                                          const BackwardOptions &options = {}) {
    using namespace Halide;
    GradWeightFuncs f;
    f.output = Func("grad_weight");
    f.accumulator = Func("grad_weight_accumulator");
    f.padded_grad_output = zero_padded_grad_output(grad_output, grad_output_extent, options.padding_by_copy);
    const bool in_parts = options.depth_parts.defined();
    // The reduction domain over the input, in the part's planes; pruned of the z taps that
    // reach padding, and for the formulation over input channels of every tap that does.
    auto reduction_domain = [&](const char *name, bool over_input) {
        RDom r({{0, input_extent[0]}, {0, input_extent[1]}, {0, input_extent[2]}, {0, input_extent[3]}}, name);
        if (in_parts) {
            // The formulation over input channels has few tiles: its parts cut the planes of
            // the whole batch (n, z), so that a shallow input still makes enough of them.
            const Expr planes = over_input ? input_extent[2] * input_extent[3] : input_extent[2];
            const Expr plane = over_input ? r.w * input_extent[2] + r.z : Expr(r.z);
            const Expr planes_per_part = (planes + options.depth_parts - 1) / options.depth_parts;
            r.where(plane >= f.part * planes_per_part && plane < (f.part + 1) * planes_per_part);
        }
        if (options.prune_padding_rows || over_input) {
            r.where(reaches_inside(axes[2], r.z, f.kz, grad_output_extent[2]));
        }
        if (over_input) {
            r.where(reaches_inside(axes[1], r.y, f.ky, grad_output_extent[1]));
            // x as bounds of r.x, which the loop over it then shrinks to: the first input
            // position whose tap reaches inside, and the one past the last.
            auto ceil_div = [](const Expr &a, const Expr &b) { return (a + b - 1) / b; };
            const BackwardAxis &a = axes[0];
            r.where(r.x >= ceil_div(a.padding - f.kx * a.dilation, a.stride) &&
                    r.x < ceil_div(grad_output_extent[0] + a.padding - f.kx * a.dilation, a.stride));
        }
        return r;
    };
    f.r = reduction_domain("r", false);
    f.grad_output_channels = grad_output_channels;
    f.axes = axes;
    const bool single_group = options.single_group;
    Func grad_output_read = f.padded_grad_output;
    Var c_in("c_in"), x("x"), y("y"), z("z"), cb("cb"), n("n"), c("c");
    if (options.channel_block > 0 && single_group) {
        const int block = options.channel_block;
        // Channels past the last one (in a partial last block) repeat it; no gradient uses them.
        auto channel = [&](const Expr &b, const Expr &c) { return min(b * block + c, grad_output_channels - 1); };
        const Expr blocks = f.padded_grad_output(x, y, z, channel(cb, c_in), n);
        f.blocked_grad_output = Func("blocked_grad_output");
        f.blocked_no_padding = no_padding(axes);
        f.blocked_grad_output(c_in, x, y, z, cb, n) = select(f.blocked_no_padding, blocks, 0.0f);
        f.grad_output = grad_output;
        const Expr copied_width = select(f.blocked_no_padding, 0, grad_output_extent[0]);
        RDom inside({{0, copied_width}, {0, grad_output_extent[1]}, {0, grad_output_extent[2]}}, "blocked_inside");
        f.blocked_grad_output(c_in, inside.x, inside.y, inside.z, cb, n) =
            grad_output(inside.x, inside.y, inside.z, channel(cb, c_in), n);
        Expr read = f.blocked_grad_output(c % block, x, y, z, c / block, n);
        if (options.second_blocked_copy_where.defined()) {
            f.per_pass_where = options.second_blocked_copy_where;
            f.blocked_grad_output_per_pass = Func("blocked_grad_output_per_pass");
            f.blocked_grad_output_per_pass(c_in, x, y, z, cb, n) = blocks;
            read = select(f.per_pass_where, f.blocked_grad_output_per_pass(c % block, x, y, z, c / block, n), read);
        }
        grad_output_read = Func("grad_output_view");
        grad_output_read(x, y, z, c, n) = read;
    }
    Expr group = single_group ? Expr(0) : f.ci / in_channels_per_group;
    Expr co = group * out_channels_per_group + f.co;
    std::vector<Var> args = {f.kx, f.ky, f.kz, f.co, f.ci};
    if (in_parts) args.push_back(f.part);
    auto define_sum = [&](Func acc, const RDom &r, const Func &input_read, const Func &grad_output_read) {
        acc(args) = 0.0f;
        acc(args) += input_read(r.x, r.y, r.z, f.ci, r.w) *
                     grad_output_read(reached(axes[0], r.x, f.kx), reached(axes[1], r.y, f.ky),
                                      reached(axes[2], r.z, f.kz), co, r.w);
    };
    define_sum(f.accumulator, f.r, input, grad_output_read);
    Expr sum = f.accumulator(args);
    if (options.over_input_where.defined() && options.channel_block > 0 && single_group) {
        GradWeightFuncs::OverInput &o = f.over_input;
        const int block = options.channel_block;
        o.where = options.over_input_where;
        o.input = input;
        o.accumulator = Func("grad_weight_over_input");
        o.r = reduction_domain("r_over_input", true);
        // x clamped too, for a copy that rounds rows up to whole vectors.
        o.blocked_input = Func("blocked_input");
        o.blocked_input(c_in, x, y, z, cb, n) =
            input(min(x, input_extent[0] - 1), y, z, min(cb * block + c_in, in_channels_per_group - 1), n);
        Func input_view("input_view");
        input_view(x, y, z, c, n) = o.blocked_input(c % block, x, y, z, c / block, n);
        // Every read is inside (o.r prunes the others): promised to bounds inference rather
        // than clamped, which would cost the inner loop a clamp per step.
        auto inside = [&](const Expr &v, int axis) { return unsafe_promise_clamped(v, 0, grad_output_extent[axis] - 1); };
        Func grad_output_as_given("grad_output_as_given");
        grad_output_as_given(x, y, z, c, n) =
            grad_output(inside(x, 0), inside(y, 1), inside(z, 2), min(c, grad_output_channels - 1), n);
        define_sum(o.accumulator, o.r, input_view, grad_output_as_given);
        sum = select(o.where, o.accumulator(args), sum);
    }
    if (in_parts) {
        f.partial_sums = Func("grad_weight_partial_sums");
        f.partial_sums(args) = sum;
        Func total("grad_weight_total");
        const RDom parts(0, options.depth_parts, "parts");
        total(f.kx, f.ky, f.kz, f.co, f.ci) = 0.0f;
        total(f.kx, f.ky, f.kz, f.co, f.ci) += f.partial_sums(f.kx, f.ky, f.kz, f.co, f.ci, parts);
        f.output(f.kx, f.ky, f.kz, f.co, f.ci) = total(f.kx, f.ky, f.kz, f.co, f.ci);
    } else {
        f.output(f.kx, f.ky, f.kz, f.co, f.ci) = sum;
    }
    f.fast_paths = {axes[0].stride == 1, axes[0].stride == 2};
    return f;
}

struct GradBiasFuncs {
    Halide::Func output;       // (co)
    Halide::Func accumulator;  // zero, then the reduction over r
    Halide::RDom r;            // (x, y, z, n) over grad_output
    Halide::Var c{"c"};
};

// grad_output: (x, y, z, co, n) with extents (x, y, z, n).
inline GradBiasFuncs define_grad_bias(const Halide::Func &grad_output, const std::array<Halide::Expr, 4> &extent) {
    using namespace Halide;
    GradBiasFuncs f;
    f.output = Func("grad_bias");
    f.accumulator = Func("grad_bias_accumulator");
    f.r = RDom({{0, extent[0]}, {0, extent[1]}, {0, extent[2]}, {0, extent[3]}}, "r");
    f.accumulator(f.c) = 0.0f;
    f.accumulator(f.c) += grad_output(f.r.x, f.r.y, f.r.z, f.c, f.r.w);
    f.output(f.c) = f.accumulator(f.c);
    return f;
}

}  // namespace convt3d
