// Generator for the gradient of ConvTranspose3d w.r.t. its weight: for every kernel tap, a
// correlation of the input with grad_output over all input positions and the batch
// (generators/conv_transpose3d_backward_algorithm.h). No schedule here.
#include "conv_transpose3d_backward_generator.h"

namespace {

using namespace Halide;

class ConvTranspose3dGradWeight : public convt3d::BackwardGenerator<ConvTranspose3dGradWeight> {
public:
    Input<Buffer<float, 5>> input{"input"};              // (x, y, z, ci, n)
    Input<Buffer<float, 5>> grad_output{"grad_output"};  // (x, y, z, co, n)
    Output<Buffer<float, 5>> grad_weight{"grad_weight"}; // (kx, ky, kz, co_g, ci)

    void generate() {
        const Expr in_channels = input.dim(3).extent();
        convt3d::BackwardOptions options = backward_options();
        if (!using_autoscheduler() && options.channel_block > 0 && options.single_group) {
            options.depth_parts = convt3d::grad_weight_depth_parts(grad_weight.dim(3).extent(), in_channels,
                                                                   input.dim(2).extent(), get_target(), cpu_knobs());
            if (blocks_per_pass) {
                options.second_blocked_copy_where = convt3d::grad_weight_blocks_per_pass(
                    in_channels, grad_weight.dim(1).extent(), grad_weight.dim(2).extent(), axes(), cpu_knobs());
            }
            if (over_input) {
                // In 64 bits: a large tensor's positions overflow 32.
                auto positions = [](const auto &b) {
                    return cast<int64_t>(b.dim(0).extent()) * b.dim(1).extent() * b.dim(2).extent();
                };
                options.over_input_where =
                    convt3d::grad_weight_over_input_where(in_channels, positions(input), grad_output.dim(3).extent(),
                                                          positions(grad_output), get_target(), cpu_knobs());
                options.depth_parts =
                    select(options.over_input_where,
                           convt3d::grad_weight_over_input_parts(in_channels, input.dim(2).extent() * input.dim(4).extent(),
                                                                 get_target(), cpu_knobs()),
                           options.depth_parts);
            }
        }
        funcs_ = convt3d::define_grad_weight(
            input, {input.dim(0).extent(), input.dim(1).extent(), input.dim(2).extent(), input.dim(4).extent()},
            grad_output, {grad_output.dim(0).extent(), grad_output.dim(1).extent(), grad_output.dim(2).extent()},
            grad_output.dim(3).extent(), axes(), in_channels_per_group(in_channels), grad_weight.dim(3).extent(), options);
        const auto &f = funcs_;
        grad_weight(f.kx, f.ky, f.kz, f.co, f.ci) = funcs_.output(f.kx, f.ky, f.kz, f.co, f.ci);
        funcs_.output = grad_weight;

        zero_mins(input, grad_output, grad_weight);
        require_groups_divide(in_channels, grad_output.dim(3).extent());
        add_requirement(grad_weight.dim(4).extent() == in_channels, "grad_weight.dim(4) must equal the input channels");
        add_requirement(grad_output.dim(3).extent() == grad_weight.dim(3).extent() * groups,
                        "grad_output channels must equal grad_weight.dim(3) * groups");
        add_requirement(grad_output.dim(4).extent() == input.dim(4).extent(), "batch sizes must agree");
    }

    void schedule() {
        input.set_estimates({{0, 64}, {0, 32}, {0, 16}, {0, 32}, {0, 2}});
        grad_output.set_estimates({{0, 128}, {0, 64}, {0, 32}, {0, 32}, {0, 2}});
        grad_weight.set_estimates({{0, 3}, {0, 3}, {0, 3}, {0, 32}, {0, 32}});
        set_geometry_estimates();
        if (using_autoscheduler()) return;
        if (on_gpu()) {
            convt3d::apply_grad_weight_cuda_schedule(funcs_, cuda_knobs());
        } else {
            convt3d::apply_grad_weight_cpu_schedule(funcs_, get_target(), cpu_knobs());
        }
    }

private:
    convt3d::GradWeightFuncs funcs_;
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose3dGradWeight, conv_transpose3d_grad_weight)
