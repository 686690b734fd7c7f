// Generator for the gradient of ConvTranspose3d w.r.t. its input: a strided, dilated,
// grouped ordinary convolution of grad_output with the same weight
// (generators/conv_transpose3d_backward_algorithm.h). No schedule here.
#include "conv_transpose3d_backward_generator.h"

namespace {

using namespace Halide;

class ConvTranspose3dGradInput : public convt3d::BackwardGenerator<ConvTranspose3dGradInput> {
public:
    Input<Buffer<float, 5>> grad_output{"grad_output"};  // (x, y, z, co, n)
    Input<Buffer<float, 5>> weight{"weight"};            // (kx, ky, kz, co_g, ci)
    Output<Buffer<float, 5>> grad_input{"grad_input"};   // (x, y, z, ci, n)

    void generate() {
        const Expr in_channels = grad_input.dim(3).extent();
        funcs_ = convt3d::define_grad_input(
            grad_output, {grad_output.dim(0).extent(), grad_output.dim(1).extent(), grad_output.dim(2).extent()}, weight,
            {weight.dim(0).extent(), weight.dim(1).extent(), weight.dim(2).extent()}, axes(), in_channels_per_group(in_channels),
            weight.dim(3).extent(), options());
        grad_input(funcs_.x, funcs_.y, funcs_.z, funcs_.c, funcs_.n) =
            funcs_.output(funcs_.x, funcs_.y, funcs_.z, funcs_.c, funcs_.n);
        funcs_.output = grad_input;

        zero_mins(grad_output, weight, grad_input);
        require_groups_divide(in_channels, grad_output.dim(3).extent());
        add_requirement(weight.dim(4).extent() == in_channels, "weight.dim(4) must equal the input channels");
        add_requirement(grad_output.dim(3).extent() == weight.dim(3).extent() * groups,
                        "grad_output channels must equal weight.dim(3) * groups");
        add_requirement(grad_output.dim(4).extent() == grad_input.dim(4).extent(), "batch sizes must agree");
    }

    void schedule() {
        grad_output.set_estimates({{0, 128}, {0, 64}, {0, 32}, {0, 32}, {0, 2}});
        weight.set_estimates({{0, 3}, {0, 3}, {0, 3}, {0, 32}, {0, 32}});
        grad_input.set_estimates({{0, 64}, {0, 32}, {0, 16}, {0, 32}, {0, 2}});
        set_geometry_estimates();
        if (using_autoscheduler()) return;
        if (on_gpu()) {
            convt3d::apply_grad_input_cuda_schedule(funcs_, cuda_knobs());
        } else {
            convt3d::apply_grad_input_cpu_schedule(funcs_, get_target(), cpu_knobs());
        }
    }

private:
    // The channel schedule's copy of grad_output (channel_rows) is zeros and then grad_output
    // copied over them: dense rows, where a boundary condition's select per element had made
    // the copy 14% of dilated_k3d2's grad_input (6% so; avx2); without padding, the boundary
    // condition, which then has no borders (vnet_up_k2s2's copy over zeros was 8% slower),
    // where the schedule's copy of it suits the layer (grad_input_boundary_condition_where).
    convt3d::BackwardOptions options() {
        convt3d::BackwardOptions o = backward_options();
        if (!on_gpu() && !using_autoscheduler() && over_channels) {
            o.padding_by_copy = true;
            o.boundary_condition_where = convt3d::grad_input_boundary_condition_where(
                weight.dim(1).extent(), weight.dim(2).extent(), axes(), cpu_knobs());
        }
        return o;
    }

    convt3d::GradInputFuncs funcs_;
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose3dGradInput, conv_transpose3d_grad_input)
