// halide_buffer_t views of our tensors, and turning a kernel's error code into an exception.
#pragma once

#include "convt3d/convt3d.hpp"

#include "HalideRuntime.h"

namespace convt3d::detail {

// The part of a tensor that one call sees when a grouped layer runs one group at a time
// (KernelChoice::group_calls): group `index` of `groups` equal parts of PyTorch dimension
// `dim`; with groups == 1, the whole tensor.
struct GroupPart {
    int dim = 0;
    int64_t index = 0, groups = 1;
};

// A halide_buffer_t over a contiguous tensor given in PyTorch order; Halide's dimension 0
// is the innermost, so dims are reversed. A CUDA tensor is wrapped as a device pointer.
class HalideTensor {
public:
    HalideTensor(const float *data, const Shape &torch_shape, Device device);
    // A part of it (host memory only when groups > 1): the tensor's strides, fewer channels.
    HalideTensor(const float *data, const Shape &torch_shape, Device device, const GroupPart &part);
    // n zeros in host memory; Halide copies them to the device itself if a GPU kernel runs.
    explicit HalideTensor(int64_t n);
    HalideTensor(const HalideTensor &) = delete;
    HalideTensor &operator=(const HalideTensor &) = delete;
    HalideTensor(HalideTensor &&) = delete;
    ~HalideTensor();

    halide_buffer_t *get() { return &buf_; }

private:
    halide_buffer_t buf_{};
    halide_dimension_t dims_[5]{};
    std::vector<float> owned_;
    bool wrapped_device_ = false;
};

// The run-time geometry every kernel takes, in its order: stride, padding, dilation on x, y,
// z (the reverse of PyTorch's D, H, W), then groups (of each of group_calls calls).
struct KernelGeometry {
    int v[10];
    KernelGeometry(const Params &p, int64_t group_calls);
};

// Runs a forward kernel on validated views (bias null: zeros), group_calls times, each on
// one group's channels, where dispatch runs the layer one group at a time
// (KernelChoice::group_calls); throws BackendError naming `what` with Halide's message, and
// returns after a CUDA kernel has finished.
void run_forward_kernel(ForwardKernelFn fn, int64_t group_calls, const ConstTensorView &input,
                        const ConstTensorView &weight, const ConstTensorView *bias, const TensorView &output,
                        const Params &p, const std::string &what);

// The signature of the grad_input and grad_weight kernels: the geometry (as KernelGeometry),
// then two tensors and the gradient (generators/conv_transpose3d_backward_generator.h).
using GradientKernelFn = int (*)(int, int, int, int, int, int, int, int, int, int, halide_buffer_t *,
                                 halide_buffer_t *, halide_buffer_t *);

// A tensor a gradient kernel takes (batched, in PyTorch order), and the dimension whose
// channels a call that runs one group sees only that group's part of.
struct GradientOperand {
    const float *data;
    const Shape &shape;
    int group_dim;
};

// Runs a grad_input or grad_weight kernel on (a, b) into out, group_calls times as
// run_forward_kernel does; throws BackendError naming `what`, and returns after a CUDA
// kernel has finished.
void run_gradient_kernel(GradientKernelFn fn, int64_t group_calls, const Params &p, Device device,
                         const GradientOperand &a, const GradientOperand &b, const GradientOperand &out,
                         const std::string &what);

// Throws BackendError with Halide's message when a kernel returned non-zero.
void check_kernel_result(int result, const std::string &what);
// Before each kernel call: clears the message captured from Halide on this thread, and
// (once) installs the error handler and the workspace cache (workspace_cache.h).
void prepare_halide_call();

}  // namespace convt3d::detail
