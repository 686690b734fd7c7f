// The training API: validate views, choose a backward kernel per requested gradient, run it.
#include "convt3d/convt3d.hpp"

#include "backward_kernel_table.h"
#include "cuda_backend.h"
#include "halide_buffers.h"
#include "kernel_table.h"
#include "view_checks.h"

#include <cstdio>

namespace convt3d {

namespace {

using detail::batched;
using detail::fail;

KernelChoice choice_for(const char *name, const detail::BackwardTarget &target, int64_t group_calls) {
    KernelChoice c{name, target.device, target.cpu_isa};
    c.group_calls = group_calls;
    return c;
}

template<typename Fn>
Fn kernel_function(const detail::BackwardKernelEntry<Fn> &e, const KernelChoice &c) {
    return c.device == Device::cuda ? e.cuda : e.cpu[static_cast<int>(*c.cpu_isa)];
}

void finish(int result, const char *gradient, const KernelChoice &c, halide_buffer_t *out) {
    detail::check_kernel_result(result, std::string(gradient) + " kernel " + c.describe());
    if (c.device == Device::cuda) detail::cuda_sync(out);
}

void report(const char *gradient, const KernelChoice &c) {
    if (detail::verbose()) std::fprintf(stderr, "convt3d: %s kernel %s\n", gradient, c.describe().c_str());
}

// Runs a grad_input or grad_weight kernel (both take the geometry, two tensors and the
// output), once per group where dispatch runs the layer one group at a time.
template<typename Fn>
KernelChoice run_gradient(const detail::BackwardDispatch<Fn> &d, const char *gradient, const Params &p,
                          const detail::BackwardTarget &target, const detail::GradientOperand &a,
                          const detail::GradientOperand &b, const detail::GradientOperand &out) {
    const KernelChoice c = choice_for(d.entry->name, target, d.group_calls);
    detail::run_gradient_kernel(kernel_function(*d.entry, c), d.group_calls, p, target.device, a, b, out,
                                std::string(gradient) + " kernel " + c.describe());
    report(gradient, c);
    return c;
}

}  // namespace

BackwardChoice conv_transpose3d_backward(const ConstTensorView &grad_output, const ConstTensorView &input,
                                         const ConstTensorView &weight, const TensorView *grad_input,
                                         const TensorView *grad_weight, const TensorView *grad_bias,
                                         const Params &p, const DispatchOptions &opts) {
    const Shape out_shape = output_shape(p, input.shape);  // validates p and the input shape
    const Device device = input.device;
    if (!grad_input && !grad_weight && !grad_bias) {
        fail("no gradient requested: pass at least one of grad_input, grad_weight, grad_bias");
    }
    if (grad_bias && !p.bias) fail("grad_bias was requested but the module was created with bias=false");
    detail::check_view(input, "input", input.shape, device);
    detail::check_view(weight, "weight", weight_shape(p), device);
    detail::check_view(grad_output, "grad_output", out_shape, device);

    // Outputs: their shapes, and no memory shared with an input or with each other.
    struct Out {
        const TensorView *view;
        const char *name;
        Shape shape;
    };
    const Out outs[] = {{grad_input, "grad_input", input.shape},
                        {grad_weight, "grad_weight", weight_shape(p)},
                        {grad_bias, "grad_bias", {p.out_channels}}};
    for (const Out &o : outs) {
        if (!o.view) continue;
        detail::check_view(ConstTensorView{o.view->data, o.view->shape, o.view->device}, o.name, o.shape, device);
        const int64_t count = numel(o.shape);
        for (const ConstTensorView *in : {&input, &weight, &grad_output}) {
            if (detail::overlaps(o.view->data, count, in->data, numel(in->shape))) {
                fail(std::string(o.name) + " memory overlaps an input (input, weight or grad_output)");
            }
        }
        for (const Out &other : outs) {
            if (&other != &o && other.view && detail::overlaps(o.view->data, count, other.view->data, numel(other.shape))) {
                fail(std::string(o.name) + " memory overlaps " + other.name);
            }
        }
    }

    // Choose every kernel (and so report every argument error) before running any. A forced
    // kernel name applies to the gradients that have a kernel of that name.
    const auto gi_table = detail::grad_input_table();
    const auto gw_table = detail::grad_weight_table();
    const auto gb_table = detail::grad_bias_table();
    const std::string &forced = opts.kernel;
    const detail::BackwardTarget target{device, device == Device::cpu ? std::optional(detail::select_cpu_isa(opts))
                                                                      : std::nullopt};
    const bool gi_forced = grad_input && detail::find_backward_kernel(gi_table, forced, target);
    const bool gw_forced = grad_weight && detail::find_backward_kernel(gw_table, forced, target);
    const bool gb_forced = grad_bias && detail::find_backward_kernel(gb_table, forced, target);
    if (!forced.empty() && !gi_forced && !gw_forced && !gb_forced) {
        fail("kernel='" + forced + "' is not a compiled " + target.describe() +
             " kernel of any requested gradient (see backward_kernel_names)");
    }
    using GiDispatch = detail::BackwardDispatch<detail::grad_input_fn>;
    using GwDispatch = detail::BackwardDispatch<detail::grad_weight_fn>;
    using GbDispatch = detail::BackwardDispatch<detail::grad_bias_fn>;
    using detail::select_backward;
    const GiDispatch gi = grad_input ? select_backward(gi_table, p, target, gi_forced ? forced : "") : GiDispatch{};
    const GwDispatch gw = grad_weight ? select_backward(gw_table, p, target, gw_forced ? forced : "") : GwDispatch{};
    const GbDispatch gb = grad_bias ? select_backward(gb_table, p, target, gb_forced ? forced : "") : GbDispatch{};
    if (device == Device::cuda) detail::cuda_prepare();

    const Shape go_shape = batched(out_shape), in_shape = batched(input.shape), w_shape = weight_shape(p);
    BackwardChoice result;
    if (gi.entry) {
        result.grad_input = run_gradient(gi, "grad_input", p, target, {grad_output.data, go_shape, 1},
                                         {weight.data, w_shape, 0}, {grad_input->data, in_shape, 1});
    }
    if (gw.entry) {
        result.grad_weight = run_gradient(gw, "grad_weight", p, target, {input.data, in_shape, 1},
                                          {grad_output.data, go_shape, 1}, {grad_weight->data, w_shape, 0});
    }
    if (gb.entry) {
        const KernelChoice c = choice_for(gb.entry->name, target, 1);
        detail::HalideTensor go_buf(grad_output.data, go_shape, device);
        detail::HalideTensor out_buf(grad_bias->data, {p.out_channels}, device);
        detail::prepare_halide_call();
        finish(kernel_function(*gb.entry, c)(go_buf.get(), out_buf.get()), "grad_bias", c, out_buf.get());
        report("grad_bias", c);
        result.grad_bias = c;
    }
    return result;
}

Gradients conv_transpose3d_backward(const Tensor &grad_output, const Tensor &input, const Tensor &weight,
                                    const Params &p, const GradientRequest &which, const DispatchOptions &opts) {
    validate(p);
    Gradients g;
    const Device device = input.device();
    if (which.input) g.grad_input = Tensor(input.shape(), device);
    if (which.weight) g.grad_weight = Tensor(weight_shape(p), device);
    if (which.bias && p.bias) g.grad_bias = Tensor(Shape{p.out_channels}, device);
    const TensorView gi = g.grad_input.view(), gw = g.grad_weight.view(), gb = g.grad_bias.view();
    conv_transpose3d_backward(grad_output.view(), input.view(), weight.view(), which.input ? &gi : nullptr,
                              which.weight ? &gw : nullptr, g.grad_bias.defined() ? &gb : nullptr, p, opts);
    return g;
}

Gradients ConvTranspose3d::backward(const Tensor &input, const Tensor &grad_output, const GradientRequest &which,
                                    const DispatchOptions &opts) const {
    if (input.device() != device() || grad_output.device() != device()) {
        throw Error(std::string("convt3d: input and grad_output must be on the module's device (") +
                    to_string(device()) + "); call to() first");
    }
    return conv_transpose3d_backward(grad_output, input, weight_, params_, which, opts);
}

}  // namespace convt3d
