// convt3d: 3-D transposed convolution (semantics of torch.nn.ConvTranspose3d), C++17 API.
//
// Tensors are contiguous float32 in NCDHW order (batched, rank 5) or CDHW (unbatched,
// rank 4). The weight is (in_channels, out_channels/groups, kD, kH, kW); the bias is
// (out_channels). Every spatial triple below is in (D, H, W) order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

struct halide_buffer_t;  // Halide's buffer descriptor (HalideRuntime.h); only pointers here

namespace convt3d {

using Triple = std::array<int64_t, 3>;  // (D, H, W)
using Shape = std::vector<int64_t>;

enum class Device { cpu, cuda };
const char *to_string(Device d);

// The module's hyper-parameters, named and defaulted as in torch.nn.ConvTranspose3d.
struct Params {
    int64_t in_channels = 0;
    int64_t out_channels = 0;
    Triple kernel_size{1, 1, 1};
    Triple stride{1, 1, 1};
    Triple padding{0, 0, 0};
    Triple output_padding{0, 0, 0};
    int64_t groups = 1;
    bool bias = true;
    Triple dilation{1, 1, 1};
    std::string padding_mode = "zeros";
};

// Invalid arguments: the message names the argument and its value.
class Error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// A failure inside a backend (no CUDA driver or device, out of memory, a kernel error).
class BackendError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws Error unless every hyper-parameter is legal (PyTorch's rules).
void validate(const Params &p);
// Output shape for an input of rank 5 (N,C,D,H,W) or 4 (C,D,H,W); validates both.
Shape output_shape(const Params &p, const Shape &input_shape);
Shape weight_shape(const Params &p);
// The multiply-adds the layer does on an input of this shape (bias excluded): per batch item,
// input channel and output channel of its group, one per (input position, kernel tap) whose
// output position lies inside the output (padding crops the others). For FLOP rates.
double multiply_adds(const Params &p, const Shape &input_shape);
// Number of elements, throwing Error on a non-positive extent or int64 overflow.
int64_t numel(const Shape &shape, const char *what = "tensor");
std::string shape_to_string(const Shape &shape);

// Non-owning views of contiguous tensors, in host memory or CUDA device memory.
template<typename T>
struct BasicView {
    T *data = nullptr;
    Shape shape;
    Device device = Device::cpu;

    BasicView() = default;
    BasicView(T *data, Shape shape, Device device = Device::cpu)
        : data(data), shape(std::move(shape)), device(device) {}
    // A mutable view converts to a const one.
    template<typename U, typename = std::enable_if_t<std::is_convertible_v<U *, T *>>>
    BasicView(const BasicView<U> &other) : data(other.data), shape(other.shape), device(other.device) {}
};
using TensorView = BasicView<float>;
using ConstTensorView = BasicView<const float>;

// An owning contiguous float32 tensor on the host or a CUDA device.
class Tensor {
public:
    Tensor() = default;
    explicit Tensor(Shape shape, Device device = Device::cpu);  // uninitialised
    static Tensor from_vector(const std::vector<float> &values, Shape shape);

    const Shape &shape() const { return shape_; }
    Device device() const { return device_; }
    int64_t numel() const { return numel_; }
    float *data() { return data_.get(); }
    const float *data() const { return data_.get(); }
    bool defined() const { return data_ != nullptr; }

    TensorView view() { return {data(), shape_, device_}; }
    ConstTensorView view() const { return {data(), shape_, device_}; }

    Tensor to(Device device) const;          // copy to a device (or a plain copy)
    std::vector<float> to_vector() const;    // host copy of the values
    void fill(float value);

private:
    Shape shape_;
    Device device_ = Device::cpu;
    int64_t numel_ = 0;
    std::shared_ptr<float> data_;
};

// CPU instruction sets that kernels are compiled for, best first.
enum class CpuIsa { avx512, avx2, sse41 };
const char *to_string(CpuIsa isa);
std::optional<CpuIsa> parse_cpu_isa(const std::string &name);
// The best ISA this CPU runs; Error if it lacks even SSE4.1.
CpuIsa best_cpu_isa();
bool cpu_supports(CpuIsa isa);
// True when a CUDA driver and at least one device are present.
bool cuda_available();

// Dispatch overrides, mostly for tests and benchmarks. Empty fields mean "choose".
struct DispatchOptions {
    std::string kernel;            // a kernel name from kernel_names(), e.g. "generic"
    std::optional<CpuIsa> cpu_isa; // force one CPU variant (must be supported by the CPU)
};

// Which kernel a call would run, as printed when CONVT3D_VERBOSE=1.
struct KernelChoice {
    std::string kernel;  // e.g. "k2s2", "generic"
    Device device = Device::cpu;
    std::optional<CpuIsa> cpu_isa;
    // Where a built-in kernel's schedule came from: "tuned" (convt3d-autotune on the suite)
    // or "hand-written", as schedules/forward.json says; empty for kernels specialised to one
    // layer.
    std::string schedule;
    // > 1: a grouped layer ran as this many calls of a groups == 1 kernel, one per group on
    // that group's channels. Default CPU dispatch does so when the kernel it would choose for
    // one group's layer needs groups == 1: those kernels share each input load across a tile
    // of output channels, which a tile that may cross a group boundary cannot.
    int64_t group_calls = 1;
    std::string describe() const;  // "k2s2_g1 on cpu (avx2, tuned schedule)", "..., one call per group (4)"
};

// Names of the compiled forward kernels, most specialised first; "generic" is last. On
// the CPU, kernels registered with register_kernel() that this CPU runs come first.
std::vector<std::string> kernel_names(Device device);
// Whether a named kernel's compile-time preconditions hold for these parameters.
bool kernel_supports(const std::string &kernel, const Params &p);
KernelChoice choose_kernel(const Params &p, Device device, const DispatchOptions &opts = {});

// The C signature every forward kernel shares: Halide buffers in (x, y, z, c, n) order,
// then stride, padding and dilation as (x, y, z) = (W, H, D), groups, output.
using ForwardKernelFn = int (*)(halide_buffer_t *input, halide_buffer_t *weight, halide_buffer_t *bias,
                                int stride_x, int stride_y, int stride_z,
                                int padding_x, int padding_y, int padding_z,
                                int dilation_x, int dilation_y, int dilation_z,
                                int groups, halide_buffer_t *output);

// A CPU forward kernel compiled for one layer, usually by the CMake function
// convt3d_add_specialised_kernel(), whose generated code registers it at start-up. Dispatch
// takes it before the built-in kernels when a call's in/out channels, kernel_size, stride,
// padding, dilation and groups all equal the layer's (batch, spatial sizes, output_padding
// and bias are free) and the CPU runs its ISA; a forced ISA (DispatchOptions::cpu_isa or
// CONVT3D_CPU_ISA) other than its own, or a forced kernel name other than its own, falls
// back to the built-in table. KernelChoice::kernel is then `name`.
struct SpecialisedKernel {
    std::string name;  // an identifier unlike every built-in kernel's name
    Params layer;      // output_padding, bias and padding_mode are not part of it
    CpuIsa cpu_isa = CpuIsa::avx2;  // the ISA it was compiled for
    ForwardKernelFn function = nullptr;
};
// Adds a kernel for dispatch; one name may be registered once per ISA, always for the same
// layer. Returns whether this CPU runs it (a kernel it cannot run is kept but never chosen).
// Throws Error for an invalid layer, a built-in kernel's name, a null function, or a name
// already registered for this ISA or for another layer.
bool register_kernel(const SpecialisedKernel &kernel);

// The functional form: output = conv_transpose3d(input, weight, bias). All views live on
// one device; output must already have output_shape(p, input.shape). bias is required
// exactly when p.bias is true. The CPU ISA can also be forced with CONVT3D_CPU_ISA.
KernelChoice conv_transpose3d(const ConstTensorView &input, const ConstTensorView &weight,
                              const ConstTensorView *bias, const TensorView &output,
                              const Params &p, const DispatchOptions &opts = {});
Tensor conv_transpose3d(const Tensor &input, const Tensor &weight, const Tensor *bias,
                        const Params &p, const DispatchOptions &opts = {});

// Training: the gradients of a loss L w.r.t. input, weight and bias, given
// grad_output = dL/d(output). Gather-form kernels (no atomics): the results are bitwise
// identical from run to run.
struct GradientRequest {
    bool input = true;
    bool weight = true;
    bool bias = true;  // ignored (nothing computed) when the parameters have bias=false
};

// Which kernel computed each gradient (empty for gradients not computed).
struct BackwardChoice {
    std::optional<KernelChoice> grad_input, grad_weight, grad_bias;
};

// Gradients that were not requested are undefined tensors.
struct Gradients {
    Tensor grad_input;   // input.shape
    Tensor grad_weight;  // weight_shape(p)
    Tensor grad_bias;    // (out_channels)
};

// Names of the compiled kernels of one gradient ("grad_input", "grad_weight" or
// "grad_bias"), most specialised first; "generic" is last. Empty for another name. On the
// CPU, those compiled for `cpu_isa`, or without one, for any ISA (some are compiled for one
// ISA alone, and dispatch on another passes them by).
std::vector<std::string> backward_kernel_names(const std::string &gradient, Device device,
                                               std::optional<CpuIsa> cpu_isa = std::nullopt);
// Whether that gradient's kernel of this name exists and its preconditions hold.
bool backward_kernel_supports(const std::string &gradient, const std::string &kernel, const Params &p);

// The view form: every view lives on one device; input, weight and grad_output are always
// required (grad_output of output_shape(p, input.shape)); each non-null grad_* view is
// overwritten with that gradient and must have its shape (grad_bias only when p.bias). At
// least one gradient must be requested. opts.kernel forces the kernel of that name for each
// computed gradient that has one (grad_bias has only "generic"; an Error if none has it);
// the CPU ISA can also be forced with CONVT3D_CPU_ISA.
BackwardChoice conv_transpose3d_backward(const ConstTensorView &grad_output, const ConstTensorView &input,
                                         const ConstTensorView &weight, const TensorView *grad_input,
                                         const TensorView *grad_weight, const TensorView *grad_bias,
                                         const Params &p, const DispatchOptions &opts = {});
Gradients conv_transpose3d_backward(const Tensor &grad_output, const Tensor &input, const Tensor &weight,
                                    const Params &p, const GradientRequest &which = {},
                                    const DispatchOptions &opts = {});

// Large host blocks, the kernels' intermediate buffers (zero-padded copies, packed weights)
// and host tensors' storage, are kept for the next call or tensor when freed instead of
// going back to the OS, which would page-fault them in again every time; at most
// CONVT3D_WORKSPACE_CACHE_MB megabytes (default 1024, 0 = off) are held. release_workspace()
// frees what is held now (blocks in use by a running call are kept for later).
struct WorkspaceStats {
    std::size_t cached_bytes = 0;   // held for reuse, not in use
    std::size_t cached_blocks = 0;
    std::size_t reuses = 0;         // allocations served from the cache so far
};
WorkspaceStats workspace_stats();
void release_workspace();

// The CPU kernels' threads: one pool for the whole process. 0 restores the default
// (HL_NUM_THREADS when set, else the CPUs online); 1 runs every kernel on the calling thread;
// a count above the pool's maximum is clamped to it. Waits for running CPU calls to finish,
// and returns the count before the call. Throws Error for a negative count. Results do not
// depend on the count: every kernel sums in a fixed order.
int set_cpu_threads(int threads);
int cpu_threads();  // the count in effect

// A module that owns its weight and bias, initialised as torch.nn.ConvTranspose3d:
// U(-sqrt(k), sqrt(k)) with k = groups / (out_channels * kD * kH * kW), from a seed.
class ConvTranspose3d {
public:
    explicit ConvTranspose3d(const Params &p, uint64_t seed = 0);
    void reset_parameters(uint64_t seed);

    const Params &params() const { return params_; }
    Tensor &weight() { return weight_; }
    const Tensor &weight() const { return weight_; }
    Tensor *bias() { return params_.bias ? &bias_ : nullptr; }
    const Tensor *bias() const { return params_.bias ? &bias_ : nullptr; }
    Device device() const { return weight_.device(); }

    ConvTranspose3d &to(Device device);  // moves weight and bias
    Tensor forward(const Tensor &input, const DispatchOptions &opts = {}) const;
    // Gradients for this module's weight and bias at `input`; grad_bias only with bias.
    Gradients backward(const Tensor &input, const Tensor &grad_output, const GradientRequest &which = {},
                       const DispatchOptions &opts = {}) const;
    Shape output_shape(const Shape &input_shape) const;

private:
    Params params_;
    Tensor weight_;
    Tensor bias_;
};

}  // namespace convt3d
