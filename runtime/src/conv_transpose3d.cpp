// The functional API: validate views, choose a kernel, run it.
#include "convt3d/convt3d.hpp"

#include "cpu_threads.h"
#include "cuda_backend.h"
#include "halide_buffers.h"
#include "kernel_table.h"
#include "view_checks.h"

#include <cstdio>

namespace convt3d {

using detail::check_view;
using detail::fail;
using detail::overlaps;
using detail::verbose;

namespace detail {

void run_forward_kernel(ForwardKernelFn fn, int64_t group_calls, const ConstTensorView &input,
                        const ConstTensorView &weight, const ConstTensorView *bias, const TensorView &output,
                        const Params &p, const std::string &what) {
    // Unbatched (C, D, H, W) tensors run as a batch of one. A layer run one group at a time
    // gives each call its group's channels of every tensor.
    const Device device = input.device;
    const KernelGeometry geo(p, group_calls);
    const int *v = geo.v;
    for (int64_t g = 0; g < group_calls; g++) {
        HalideTensor in_buf(input.data, batched(input.shape), device, GroupPart{1, g, group_calls});
        HalideTensor w_buf(weight.data, weight.shape, device, GroupPart{0, g, group_calls});
        std::optional<HalideTensor> zero_bias, b_buf;
        if (bias) {
            b_buf.emplace(bias->data, bias->shape, device, GroupPart{0, g, group_calls});
        } else {
            zero_bias.emplace(p.out_channels / group_calls);
        }
        HalideTensor out_buf(output.data, batched(output.shape), device, GroupPart{1, g, group_calls});

        prepare_halide_call();
        const auto pool = hold_thread_pool();
        const int result = fn(in_buf.get(), w_buf.get(), bias ? b_buf->get() : zero_bias->get(), v[0], v[1], v[2],
                              v[3], v[4], v[5], v[6], v[7], v[8], v[9], out_buf.get());
        check_kernel_result(result, what);
        if (device == Device::cuda) cuda_sync(out_buf.get());
    }
}

void run_gradient_kernel(GradientKernelFn fn, int64_t group_calls, const Params &p, Device device,
                         const GradientOperand &a, const GradientOperand &b, const GradientOperand &out,
                         const std::string &what) {
    const KernelGeometry geo(p, group_calls);
    const int *v = geo.v;
    for (int64_t g = 0; g < group_calls; g++) {
        HalideTensor a_buf(a.data, a.shape, device, GroupPart{a.group_dim, g, group_calls});
        HalideTensor b_buf(b.data, b.shape, device, GroupPart{b.group_dim, g, group_calls});
        HalideTensor out_buf(out.data, out.shape, device, GroupPart{out.group_dim, g, group_calls});
        prepare_halide_call();
        const auto pool = hold_thread_pool();
        const int result = fn(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], a_buf.get(), b_buf.get(),
                              out_buf.get());
        check_kernel_result(result, what);
        if (device == Device::cuda) cuda_sync(out_buf.get());
    }
}

}  // namespace detail

KernelChoice conv_transpose3d(const ConstTensorView &input, const ConstTensorView &weight,
                              const ConstTensorView *bias, const TensorView &output, const Params &p,
                              const DispatchOptions &opts) {
    const Shape out_shape = output_shape(p, input.shape);  // validates p and the input shape
    const Device device = input.device;
    check_view(input, "input", input.shape, device);
    check_view(weight, "weight", weight_shape(p), device);
    if (p.bias && !bias) fail("bias is required: the module was created with bias=true");
    if (!p.bias && bias) fail("bias was given but the module was created with bias=false");
    if (bias) check_view(*bias, "bias", {p.out_channels}, device);
    const ConstTensorView out_view{output.data, output.shape, output.device};
    check_view(out_view, "output", out_shape, device);
    const int64_t out_count = numel(out_shape);
    for (const ConstTensorView *in : {&input, &weight, bias}) {
        if (in && overlaps(output.data, out_count, in->data, numel(in->shape))) {
            fail("output memory overlaps an input (in-place transposed convolution is not supported)");
        }
    }

    const auto [choice, fn] = detail::select_forward(p, device, opts);
    if (device == Device::cuda) detail::cuda_prepare();

    detail::run_forward_kernel(fn, choice.group_calls, input, weight, bias, output, p,
                               "forward kernel " + choice.describe());
    if (verbose()) std::fprintf(stderr, "convt3d: forward kernel %s\n", choice.describe().c_str());
    return choice;
}

Tensor conv_transpose3d(const Tensor &input, const Tensor &weight, const Tensor *bias, const Params &p,
                        const DispatchOptions &opts) {
    Tensor output(output_shape(p, input.shape()), input.device());
    const ConstTensorView bias_view = bias ? bias->view() : ConstTensorView{};
    conv_transpose3d(input.view(), weight.view(), bias ? &bias_view : nullptr, output.view(), p, opts);
    return output;
}

}  // namespace convt3d
