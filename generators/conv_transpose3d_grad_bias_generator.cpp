// Generator for the gradient of ConvTranspose3d w.r.t. its bias: grad_output summed over
// the batch and every position, per channel (generators/conv_transpose3d_backward_algorithm.h).
// It needs no geometry, but takes the same knobs as the other backward generators.
#include "conv_transpose3d_backward_algorithm.h"
#include "../schedules/backward_schedules.h"

namespace {

using namespace Halide;

class ConvTranspose3dGradBias : public Generator<ConvTranspose3dGradBias> {
public:
    GeneratorParam<int> vectorize_reduction{"vectorize_reduction", 1};
    GeneratorParam<int> lanes_x{"lanes_x", 8};
    GeneratorParam<int> lanes_y{"lanes_y", 4};
    GeneratorParam<int> partial_threads{"partial_threads", 262144};

    Input<Buffer<float, 5>> grad_output{"grad_output"};  // (x, y, z, co, n)
    Output<Buffer<float, 1>> grad_bias{"grad_bias"};     // (co)

    void generate() {
        funcs_ = convt3d::define_grad_bias(grad_output, {grad_output.dim(0).extent(), grad_output.dim(1).extent(),
                                                         grad_output.dim(2).extent(), grad_output.dim(4).extent()});
        grad_bias(funcs_.c) = funcs_.output(funcs_.c);
        funcs_.output = grad_bias;
        for (int d = 0; d < 5; d++) grad_output.dim(d).set_min(0);
        grad_bias.dim(0).set_min(0);
        add_requirement(grad_bias.dim(0).extent() == grad_output.dim(3).extent(),
                        "grad_bias must have one value per grad_output channel");
    }

    void schedule() {
        grad_output.set_estimates({{0, 128}, {0, 64}, {0, 32}, {0, 32}, {0, 2}});
        grad_bias.set_estimates({{0, 32}});
        if (using_autoscheduler()) return;
        if (get_target().has_gpu_feature()) {
            convt3d::BackwardCudaKnobs knobs;
            knobs.lanes_x = lanes_x;
            knobs.lanes_y = lanes_y;
            knobs.partial_threads = partial_threads;
            convt3d::apply_grad_bias_cuda_schedule(funcs_, knobs);
        } else {
            convt3d::BackwardCpuKnobs knobs;
            knobs.vectorize_reduction = vectorize_reduction;
            convt3d::apply_grad_bias_cpu_schedule(funcs_, get_target(), knobs);
        }
    }

private:
    convt3d::GradBiasFuncs funcs_;
};

}  // namespace

HALIDE_REGISTER_GENERATOR(ConvTranspose3dGradBias, conv_transpose3d_grad_bias)
