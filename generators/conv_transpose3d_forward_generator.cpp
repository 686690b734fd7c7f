// Generator for the ConvTranspose3d forward kernel. One generator yields every variant:
// generator parameters fix stride/kernel/dilation at compile time (0 = run time) and carry
// the schedule knobs read from schedules/forward.json. All variants share one signature so
// that the runtime can keep them in one table.
#include "Halide.h"

#include "conv_transpose3d_algorithm.h"
#include "../schedules/forward_schedules.h"

#include <tuple>

namespace {

using namespace Halide;

class ConvTranspose3dForward : public Generator<ConvTranspose3dForward> {
public:
    // Compile-time specialisation, the same on all three axes; 0 means "run time".
    GeneratorParam<int> stride{"stride", 0};
    GeneratorParam<int> kernel{"kernel", 0};
    GeneratorParam<int> dilation{"dilation", 0};
    GeneratorParam<int> fixed_groups{"fixed_groups", 0};  // 1: compiled for groups == 1

    // Schedule knobs (see schedules/forward_schedules.h).
    GeneratorParam<int> vectors{"vectors", 2};
    GeneratorParam<int> tile_c{"tile_c", 4};
    GeneratorParam<int> vectorize_c{"vectorize_c", 0};
    GeneratorParam<int> ci_inner{"ci_inner", 0};
    GeneratorParam<int> phase_major{"phase_major", 0};
    GeneratorParam<int> block_x{"block_x", 32};
    GeneratorParam<int> block_y{"block_y", 4};

    Input<Buffer<float, 5>> input{"input"};    // (x, y, z, ci, n)
    Input<Buffer<float, 5>> weight{"weight"};  // (kx, ky, kz, co_g, ci)
    Input<Buffer<float, 1>> bias{"bias"};      // (c); zeros when the module has no bias
    Input<int> stride_x{"stride_x"}, stride_y{"stride_y"}, stride_z{"stride_z"};
    Input<int> padding_x{"padding_x"}, padding_y{"padding_y"}, padding_z{"padding_z"};
    Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"}, dilation_z{"dilation_z"};
    Input<int> groups{"groups"};
    Output<Buffer<float, 5>> output{"output"};  // (x, y, z, co, n)

    void generate() {
        const convt3d::AxisConstants constants{stride, kernel, dilation};
        const Input<int> *strides[] = {&stride_x, &stride_y, &stride_z};
        const Input<int> *paddings[] = {&padding_x, &padding_y, &padding_z};
        const Input<int> *dilations[] = {&dilation_x, &dilation_y, &dilation_z};
        std::array<convt3d::Axis, 3> axes;
        for (int d = 0; d < 3; d++) {
            axes[d] = {*strides[d], *dilations[d], *paddings[d], weight.dim(d).extent(),
                       input.dim(d).min(), input.dim(d).extent(), constants};
        }
        Expr out_channels_per_group = weight.dim(3).extent();
        Expr in_channels_per_group = input.dim(3).extent() / groups;
        // The CPU schedule that vectorises over output channels reads packed weights.
        Func weight_read = weight;
        Func packed_weight;
        const bool cpu_channel_vectors = !get_target().has_gpu_feature() && vectorize_c;
        if (cpu_channel_vectors) {
            const int block = get_target().natural_vector_size<float>() * vectors;
            std::tie(packed_weight, weight_read) =
                convt3d::pack_weight_in_channel_blocks(weight, out_channels_per_group, block);
        }
        convt3d::FormulationOptions formulation;
        formulation.single_group = fixed_groups == 1;
        formulation.prune_x_taps = cpu_channel_vectors;
        formulation.x_phase_major = !get_target().has_gpu_feature() && !vectorize_c && phase_major;
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
        input.set_estimates({{0, 64}, {0, 32}, {0, 16}, {0, 32}, {0, 2}});
        weight.set_estimates({{0, 3}, {0, 3}, {0, 3}, {0, 32}, {0, 32}});
        bias.set_estimates({{0, 32}});
        output.set_estimates({{0, 128}, {0, 64}, {0, 32}, {0, 32}, {0, 2}});
        for (auto *p : {&stride_x, &stride_y, &stride_z}) p->set_estimate(2);
        for (auto *p : {&padding_x, &padding_y, &padding_z}) p->set_estimate(1);
        for (auto *p : {&dilation_x, &dilation_y, &dilation_z}) p->set_estimate(1);
        groups.set_estimate(1);
        if (using_autoscheduler()) return;

        if (get_target().has_gpu_feature()) {
            convt3d::apply_cuda_schedule(funcs_, {block_x, block_y, tile_c});
        } else {
            convt3d::apply_cpu_schedule(funcs_, get_target(), {vectors, tile_c, vectorize_c != 0, ci_inner != 0});
        }
    }

private:
    convt3d::ConvTranspose3dFuncs funcs_;

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
        if (stride > 0) {
            add_requirement(stride_x == stride && stride_y == stride && stride_z == stride,
                            "this kernel is compiled for a fixed stride");
        }
        if (fixed_groups == 1) add_requirement(groups == 1, "this kernel is compiled for groups == 1");
        if (dilation > 0) {
            add_requirement(dilation_x == dilation && dilation_y == dilation && dilation_z == dilation,
                            "this kernel is compiled for a fixed dilation");
        }
        if (kernel > 0) {
            for (int d = 0; d < 3; d++) weight.dim(d).set_extent(kernel);
        }
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose3dForward, conv_transpose3d_forward)
