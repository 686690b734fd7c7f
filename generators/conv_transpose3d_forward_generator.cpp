// Generator for the ConvTranspose3d forward kernel. One generator yields every variant:
// generator parameters fix parts of the problem at compile time (stride, kernel, dilation,
// groups for the runtime's variants; everything but the batch and spatial sizes for a
// kernel specialised to one layer) and carry the schedule knobs read from
// schedules/forward.json. All variants share one signature so that the runtime can keep
// them in one table.
#include "Halide.h"

#include "conv_transpose3d_algorithm.h"
#include "problem_params.h"
#include "../schedules/forward_schedules.h"

#include <algorithm>
#include <array>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace Halide;

class ConvTranspose3dForward : public Generator<ConvTranspose3dForward> {
public:
    // Compile-time specialisation (problem_params.h): "v" for all three axes or "vD,vH,vW";
    // 0 or "" means "run time".
    GeneratorParam<std::string> stride{"stride", "0"};
    GeneratorParam<std::string> kernel{"kernel", "0"};
    GeneratorParam<std::string> dilation{"dilation", "0"};
    GeneratorParam<std::string> padding{"padding", ""};
    GeneratorParam<int> fixed_groups{"fixed_groups", 0};  // > 0: compiled for this many groups
    GeneratorParam<int> in_channels{"in_channels", 0};
    GeneratorParam<int> out_channels{"out_channels", 0};
    // > 0: compiled for this many input channels per group (1: depthwise).
    GeneratorParam<int> group_in_channels{"group_in_channels", 0};
    // The input size (N,C,D,H,W) that estimates assume; autoschedulers tune for it.
    GeneratorParam<std::string> estimate_input{"estimate_input", "2,32,16,32,64"};

    // Schedule knobs (see schedules/forward_schedules.h).
    GeneratorParam<int> vectors{"vectors", 2};
    GeneratorParam<int> tile_c{"tile_c", 4};
    GeneratorParam<int> vectorize_c{"vectorize_c", 0};
    GeneratorParam<int> ci_inner{"ci_inner", 0};
    GeneratorParam<int> phase_major{"phase_major", 0};
    GeneratorParam<int> pack_per_task{"pack_per_task", 0};
    GeneratorParam<int> block_x{"block_x", 32};
    GeneratorParam<int> block_y{"block_y", 4};
    GeneratorParam<int> tile_x{"tile_x", 1};
    GeneratorParam<int> tile_y{"tile_y", 1};
    GeneratorParam<int> channel_tiles_inner{"channel_tiles_inner", 0};
    GeneratorParam<int> pack_weights{"pack_weights", 0};
    GeneratorParam<int> ci_block{"ci_block", 0};
    GeneratorParam<int> unroll_x_taps{"unroll_x_taps", 0};
    GeneratorParam<int> pad_input_per_task{"pad_input_per_task", 0};
    // CPU: skip the (y, z) taps that read zero padding (FormulationOptions); -1: only in the
    // channel-vectorised schedules, whose y and z loops are outside the reduction. The
    // x-vectorised ones test it once per y tap, outside the channel loop, when tile_y is 1.
    GeneratorParam<int> prune_padding_rows{"prune_padding_rows", -1};
    // CPU: the zero-padded input as zeros with the input copied over them (FormulationOptions).
    GeneratorParam<int> padding_by_copy{"padding_by_copy", 1};

    Input<Buffer<float, 5>> input{"input"};    // (x, y, z, ci, n)
    Input<Buffer<float, 5>> weight{"weight"};  // (kx, ky, kz, co_g, ci)
    Input<Buffer<float, 1>> bias{"bias"};      // (c); zeros when the module has no bias
    Input<int> stride_x{"stride_x"}, stride_y{"stride_y"}, stride_z{"stride_z"};
    Input<int> padding_x{"padding_x"}, padding_y{"padding_y"}, padding_z{"padding_z"};
    Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"}, dilation_z{"dilation_z"};
    Input<int> groups{"groups"};
    Output<Buffer<float, 5>> output{"output"};  // (x, y, z, co, n)

    void generate() {
        read_problem_params();
        const auto [strides, paddings, dilations] = axis_inputs();
        std::array<convt3d::Axis, 3> axes;
        for (int d = 0; d < 3; d++) {
            const convt3d::AxisConstants constants{strides_[d], kernels_[d], dilations_[d]};
            Expr pad = padding_fixed_ ? Expr(paddings_[d]) : Expr(*paddings[d]);
            axes[d] = {*strides[d], *dilations[d], pad, weight.dim(d).extent(),
                       input.dim(d).min(), input.dim(d).extent(), constants};
        }
        Expr out_channels_per_group = weight.dim(3).extent();
        Expr in_channels_per_group = input.dim(3).extent() / groups;
        if (in_channels > 0 && fixed_groups > 0) in_channels_per_group = int(in_channels) / int(fixed_groups);
        if (group_in_channels > 0) in_channels_per_group = int(group_in_channels);
        // The CPU schedule that vectorises over output channels reads packed weights.
        Func weight_read = weight;
        Func packed_weight;
        const bool cpu_channel_vectors = !get_target().has_gpu_feature() && vectorize_c;
        const bool cpu_x_vectors_packed = !get_target().has_gpu_feature() && !vectorize_c && pack_weights;
        if (cpu_channel_vectors || cpu_x_vectors_packed) {
            // A register tile's channels are one block: its weights are one contiguous stream.
            const int block = cpu_channel_vectors ? get_target().natural_vector_size<float>() * vectors : int(tile_c);
            std::tie(packed_weight, weight_read) =
                convt3d::pack_weight_in_channel_blocks(weight, out_channels_per_group, block);
        }
        convt3d::FormulationOptions formulation;
        formulation.single_group = fixed_groups == 1;
        formulation.prune_x_taps = cpu_channel_vectors;
        formulation.x_phase_major = !get_target().has_gpu_feature() && !vectorize_c && phase_major;
        formulation.prune_padding_rows =
            prune_padding_rows < 0 ? cpu_channel_vectors : !get_target().has_gpu_feature() && prune_padding_rows > 0;
        formulation.padding_by_copy = !get_target().has_gpu_feature() && !using_autoscheduler() && padding_by_copy;
        // Schedules may compute whole channel tiles past the last channel (never stored).
        Func bias_read = BoundaryConditions::repeat_edge(bias);
        funcs_ = convt3d::define_conv_transpose3d(input, weight_read, bias_read, axes, in_channels_per_group,
                                                  out_channels_per_group, formulation);
        funcs_.packed_weight = packed_weight;
        output(funcs_.x, funcs_.y, funcs_.z, funcs_.c, funcs_.n) =
            funcs_.output(funcs_.x, funcs_.y, funcs_.z, funcs_.c, funcs_.n);
        funcs_.output = output;
        add_preconditions();
    }

    void schedule() {
        set_problem_estimates();
        if (using_autoscheduler()) return;

        if (get_target().has_gpu_feature()) {
            convt3d::apply_cuda_schedule(funcs_, {block_x, block_y, tile_c, tile_x});
        } else {
            convt3d::apply_cpu_schedule(funcs_, get_target(),
                                        {vectors, tile_c, vectorize_c != 0, ci_inner != 0, pack_per_task != 0, tile_y,
                                         channel_tiles_inner != 0, ci_block, unroll_x_taps != 0, pad_input_per_task != 0});
        }
    }

private:
    convt3d::ConvTranspose3dFuncs funcs_;
    // The compile-time problem, {x, y, z} per axis (0 = run time).
    std::array<int, 3> strides_{}, kernels_{}, dilations_{}, paddings_{};
    bool padding_fixed_ = false;

    // The run-time stride, padding and dilation Inputs, each {x, y, z}.
    using AxisInputs = std::array<Input<int> *, 3>;
    std::array<AxisInputs, 3> axis_inputs() {
        return {AxisInputs{&stride_x, &stride_y, &stride_z}, AxisInputs{&padding_x, &padding_y, &padding_z},
                AxisInputs{&dilation_x, &dilation_y, &dilation_z}};
    }

    void read_problem_params() {
        strides_ = convt3d::parse_axis_triple(stride, "stride");
        kernels_ = convt3d::parse_axis_triple(kernel, "kernel");
        dilations_ = convt3d::parse_axis_triple(dilation, "dilation");
        padding_fixed_ = !std::string(padding).empty();
        paddings_ = convt3d::parse_axis_triple(padding, "padding");
    }

    // Estimates of the problem the kernel is compiled for: what is fixed, else a typical
    // decoder layer. Halide's autoschedulers tune for these.
    void set_problem_estimates() {
        std::vector<int> in = convt3d::parse_int_list(estimate_input, "estimate_input");  // N,C,D,H,W
        if (in.size() != 5) {
            throw CompileError("estimate_input='" + std::string(estimate_input) + "': expected N,C,D,H,W");
        }
        const int n = in[0], ci = in_channels > 0 ? int(in_channels) : in[1];
        const int co = out_channels > 0 ? int(out_channels) : 32;
        const int g = fixed_groups > 0 ? int(fixed_groups) : group_in_channels > 0 ? std::max(1, ci / group_in_channels) : 1;
        const int in_xyz[3] = {in[4], in[3], in[2]};
        int out_xyz[3], k_xyz[3];
        for (int d = 0; d < 3; d++) {
            const int s = strides_[d] ? strides_[d] : 2, k = kernels_[d] ? kernels_[d] : 3;
            const int dil = dilations_[d] ? dilations_[d] : 1, p = padding_fixed_ ? paddings_[d] : 1;
            k_xyz[d] = k;
            out_xyz[d] = std::max(1, (in_xyz[d] - 1) * s - 2 * p + dil * (k - 1) + 1);
        }
        input.set_estimates({{0, in_xyz[0]}, {0, in_xyz[1]}, {0, in_xyz[2]}, {0, ci}, {0, n}});
        weight.set_estimates({{0, k_xyz[0]}, {0, k_xyz[1]}, {0, k_xyz[2]}, {0, co / g}, {0, ci}});
        bias.set_estimates({{0, co}});
        output.set_estimates({{0, out_xyz[0]}, {0, out_xyz[1]}, {0, out_xyz[2]}, {0, co}, {0, n}});
        const auto [strides, paddings, dilations] = axis_inputs();
        for (int d = 0; d < 3; d++) {
            strides[d]->set_estimate(strides_[d] ? strides_[d] : 2);
            paddings[d]->set_estimate(padding_fixed_ ? paddings_[d] : 1);
            dilations[d]->set_estimate(dilations_[d] ? dilations_[d] : 1);
        }
        groups.set_estimate(g);
    }

    // The runtime validates everything; these make the kernel itself refuse a call that
    // breaks its compile-time assumptions instead of computing something else.
    void add_preconditions() {
        for (int d = 0; d < 5; d++) {
            input.dim(d).set_min(0);
            weight.dim(d).set_min(0);
            output.dim(d).set_min(0);
        }
        bias.dim(0).set_min(0);
        add_requirement(groups > 0 && input.dim(3).extent() % groups == 0,
                        "groups must divide the input channels");
        add_requirement(output.dim(3).extent() == weight.dim(3).extent() * groups,
                        "output channels must equal weight.dim(3) * groups");
        add_requirement(weight.dim(4).extent() == input.dim(3).extent(),
                        "weight.dim(4) must equal the input channels");
        const auto [strides, paddings, dilations] = axis_inputs();
        for (int d = 0; d < 3; d++) {
            if (strides_[d]) add_requirement(*strides[d] == strides_[d], "this kernel is compiled for a fixed stride");
            if (dilations_[d]) {
                add_requirement(*dilations[d] == dilations_[d], "this kernel is compiled for a fixed dilation");
            }
            if (padding_fixed_) {
                add_requirement(*paddings[d] == paddings_[d], "this kernel is compiled for a fixed padding");
            }
            if (kernels_[d]) weight.dim(d).set_extent(kernels_[d]);
        }
        if (fixed_groups > 0) add_requirement(groups == fixed_groups, "this kernel is compiled for a fixed groups");
        if (group_in_channels > 0) {
            add_requirement(input.dim(3).extent() == groups * int(group_in_channels),
                            "this kernel is compiled for a fixed number of input channels per group");
        }
        if (in_channels > 0) {
            input.dim(3).set_extent(in_channels);
            weight.dim(4).set_extent(in_channels);
        }
        if (out_channels > 0) output.dim(3).set_extent(out_channels);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose3dForward, conv_transpose3d_forward)
