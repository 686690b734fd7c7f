// cuDNN on the same case and data. A transposed convolution's forward pass is the data
// gradient of the convolution it transposes: with the convolution's "x" our output (N, Cout,
// Do, Ho, Wo), its "y" our input (N, Cin, D, H, W) and its filter (K = Cin, C/g = Cout/g, k...)
// exactly PyTorch's ConvTranspose3d weight, cudnnConvolutionBackwardData computes our output.
// output_padding needs nothing: the output dims are given, and cuDNN accepts any "x" whose
// forward output size is the input's. The bias is one cudnnAddTensor, inside the timing.
//
// Precision: fp32 data and compute with CUDNN_FMA_MATH. (CUDNN_DEFAULT_MATH would permit TF32
// tensor-core kernels on sm_80 and newer, with 10-bit mantissas: not the same computation.)
// Built only when the CUDA toolkit and cuDNN are found.
#include "cuda_timing.h"
#include "runners.h"

#include <cudnn.h>

#include <stdexcept>

namespace convt3d::bench {

namespace {

using bench::check;  // cudaError_t's, beside cuDNN's below

void check(cudnnStatus_t s, const char *what) {
    if (s != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(s));
}

const char *algo_name(cudnnConvolutionBwdDataAlgo_t a) {
    switch (a) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0: return "ALGO_0";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1: return "ALGO_1";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "?";
    }
}

// Every handle and buffer of one run, released in the destructor whatever happens.
struct Resources {
    cudnnHandle_t handle = nullptr;
    cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr, b_desc = nullptr;  // x, y: ours
    cudnnFilterDescriptor_t w_desc = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    void *x = nullptr, *w = nullptr, *b = nullptr, *y = nullptr, *workspace = nullptr;
    void *grad = nullptr, *grad_bias = nullptr;  // --pass backward: the gradient computed, and grad_bias
    ~Resources() {
        for (void *p : {x, w, b, y, workspace, grad, grad_bias}) cudaFree(p);
        if (conv) cudnnDestroyConvolutionDescriptor(conv);
        if (w_desc) cudnnDestroyFilterDescriptor(w_desc);
        for (auto t : {x_desc, y_desc, b_desc}) {
            if (t) cudnnDestroyTensorDescriptor(t);
        }
        if (handle) cudnnDestroy(handle);
    }
};

void set_packed(cudnnTensorDescriptor_t desc, const Shape &shape) {
    int dims[5], strides[5];
    int64_t stride = 1;
    for (int i = 4; i >= 0; i--) {
        dims[i] = static_cast<int>(shape[i]);
        strides[i] = static_cast<int>(stride);
        stride *= shape[i];
    }
    check(cudnnSetTensorNdDescriptor(desc, CUDNN_DATA_FLOAT, 5, dims, strides), "cudnnSetTensorNdDescriptor");
}

void *upload(const std::vector<float> &v) {
    void *p = nullptr;
    check(cudaMalloc(&p, v.size() * sizeof(float)), "cudaMalloc");
    check(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    return p;
}

// An output buffer, poisoned with NaN (all bits set) so that one left unwritten fails the
// cross-check instead of showing whatever the last run left in that memory.
void *allocate(const Shape &shape) {
    void *p = nullptr;
    const size_t bytes = static_cast<size_t>(numel(shape)) * sizeof(float);
    check(cudaMalloc(&p, bytes), "cudaMalloc");
    check(cudaMemset(p, 0xff, bytes), "cudaMemset");
    return p;
}

std::vector<float> download(const void *p, const Shape &shape) {
    std::vector<float> v(static_cast<size_t>(numel(shape)));
    check(cudaMemcpy(v.data(), p, v.size() * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    return v;
}

// The handle and the descriptors of the convolution that the case transposes: its "x" is our
// output (y_desc), its "y" our input (x_desc), its filter our weight.
void describe(Resources &res, const SuiteCase &c, const CaseData &d) {
    const Params &p = c.params;
    check(cudnnCreate(&res.handle), "cudnnCreate");  // on the legacy default stream
    check(cudnnCreateTensorDescriptor(&res.x_desc), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&res.y_desc), "cudnnCreateTensorDescriptor");
    check(cudnnCreateFilterDescriptor(&res.w_desc), "cudnnCreateFilterDescriptor");
    check(cudnnCreateConvolutionDescriptor(&res.conv), "cudnnCreateConvolutionDescriptor");
    set_packed(res.x_desc, d.x_shape);
    set_packed(res.y_desc, d.y_shape);
    int w_dims[5], pad[3], stride[3], dilation[3];
    for (int i = 0; i < 5; i++) w_dims[i] = static_cast<int>(d.w_shape[i]);
    check(cudnnSetFilterNdDescriptor(res.w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, w_dims),
          "cudnnSetFilterNdDescriptor");
    for (int i = 0; i < 3; i++) {
        pad[i] = static_cast<int>(p.padding[i]);
        stride[i] = static_cast<int>(p.stride[i]);
        dilation[i] = static_cast<int>(p.dilation[i]);
    }
    check(cudnnSetConvolutionNdDescriptor(res.conv, 3, pad, stride, dilation, CUDNN_CROSS_CORRELATION,
                                          CUDNN_DATA_FLOAT),
          "cudnnSetConvolutionNdDescriptor");
    check(cudnnSetConvolutionGroupCount(res.conv, static_cast<int>(p.groups)), "cudnnSetConvolutionGroupCount");
    check(cudnnSetConvolutionMathType(res.conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
    // The convolution of our output must give our input's shape back.
    int fwd[5];
    check(cudnnGetConvolutionNdForwardOutputDim(res.conv, res.y_desc, res.w_desc, 5, fwd),
          "cudnnGetConvolutionNdForwardOutputDim");
    for (int i = 0; i < 5; i++) {
        if (fwd[i] != d.x_shape[i]) throw std::runtime_error("cuDNN's shape algebra disagrees with ours");
    }
    if (p.bias) {
        check(cudnnCreateTensorDescriptor(&res.b_desc), "cudnnCreateTensorDescriptor");
        set_packed(res.b_desc, {1, p.out_channels, 1, 1, 1});
    }
}

// Runs a cudnnFind* (`find(count, &returned, perf)`, results sorted fastest first) and
// returns the fastest algorithm that ran and uses no tensor-op math, its workspace allocated.
template<typename Perf, int count, typename Find>
Perf fastest_fma(Resources &res, Find find, const char *what) {
    Perf perf[count];
    int returned = 0;
    check(find(count, &returned, perf), what);
    for (int i = 0; i < returned; i++) {
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType != CUDNN_TENSOR_OP_MATH &&
            perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) {
            if (perf[i].memory) check(cudaMalloc(&res.workspace, perf[i].memory), "cudaMalloc (workspace)");
            return perf[i];
        }
    }
    throw std::runtime_error(std::string("no algorithm of ") + what + " supports this case in fp32 FMA math");
}

std::string workspace_note(size_t bytes) { return ", workspace " + std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

std::string cudnn_description() {
    const size_t v = cudnnGetVersion();
    return "cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
           " (fp32, CUDNN_FMA_MATH: no TF32)";
}

RunResult run_cudnn(const SuiteCase &c, const CaseData &d, int repeats) {
    return guarded_run([&](RunResult &r) {
        const Params &p = c.params;
        Resources res;
        describe(res, c, d);
        res.x = upload(d.x);
        res.w = upload(d.w);
        if (p.bias) res.b = upload(d.b);
        res.y = allocate(d.y_shape);

        const auto best =
            fastest_fma<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
                res, [&](int n, int *returned, auto *perf) {
                    return cudnnFindConvolutionBackwardDataAlgorithm(res.handle, res.w_desc, res.x_desc, res.conv,
                                                                     res.y_desc, n, returned, perf);
                }, "cudnnFindConvolutionBackwardDataAlgorithm");
        const float one = 1.0f, zero = 0.0f;
        record_times(r, time_on_default_stream(repeats, [&] {
            check(cudnnConvolutionBackwardData(res.handle, &one, res.w_desc, res.w, res.x_desc, res.x, res.conv,
                                               best.algo, res.workspace, best.memory, &zero, res.y_desc, res.y),
                  "cudnnConvolutionBackwardData");
            if (p.bias) {
                check(cudnnAddTensor(res.handle, &one, res.b_desc, res.b, &one, res.y_desc, res.y), "cudnnAddTensor");
            }
        }));
        r.what = std::string("BackwardData ") + algo_name(best.algo) + workspace_note(best.memory) +
                 (p.bias ? ", + cudnnAddTensor" : "");
        r.y = download(res.y, d.y_shape);
    });
}

RunResult run_cudnn_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                             Gradient which, int repeats) {
    return guarded_run([&](RunResult &r) {
        const bool bias = which == Gradient::weight && c.params.bias;
        Resources res;
        describe(res, c, d);
        res.x = upload(d.x);
        res.w = upload(d.w);
        res.y = upload(grad_output);  // the output's gradient, in the output's place
        const float one = 1.0f, zero = 0.0f;
        if (which == Gradient::input) {
            // grad_input is the convolution's forward pass over grad_output.
            void *gi = res.grad = allocate(d.x_shape);
            const auto best = fastest_fma<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
                res, [&](int n, int *returned, auto *perf) {
                    return cudnnFindConvolutionForwardAlgorithm(res.handle, res.y_desc, res.w_desc, res.conv,
                                                                res.x_desc, n, returned, perf);
                }, "cudnnFindConvolutionForwardAlgorithm");
            record_times(r, time_on_default_stream(repeats, [&] {
                check(cudnnConvolutionForward(res.handle, &one, res.y_desc, res.y, res.w_desc, res.w, res.conv,
                                              best.algo, res.workspace, best.memory, &zero, res.x_desc, gi),
                      "cudnnConvolutionForward");
            }));
            r.what = "Forward algo " + std::to_string(static_cast<int>(best.algo)) + workspace_note(best.memory);
            r.y = download(gi, d.x_shape);
        } else {
            // grad_weight is the convolution's filter gradient with grad_output as its "x" and our
            // input as its "dy"; grad_bias is its bias gradient over grad_output.
            void *gw = res.grad = allocate(d.w_shape);
            void *gb = bias ? (res.grad_bias = allocate(Shape{c.params.out_channels})) : nullptr;
            const auto best =
                fastest_fma<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
                    res, [&](int n, int *returned, auto *perf) {
                        return cudnnFindConvolutionBackwardFilterAlgorithm(res.handle, res.y_desc, res.x_desc, res.conv,
                                                                           res.w_desc, n, returned, perf);
                    }, "cudnnFindConvolutionBackwardFilterAlgorithm");
            record_times(r, time_on_default_stream(repeats, [&] {
                check(cudnnConvolutionBackwardFilter(res.handle, &one, res.y_desc, res.y, res.x_desc, res.x, res.conv,
                                                     best.algo, res.workspace, best.memory, &zero, res.w_desc, gw),
                      "cudnnConvolutionBackwardFilter");
                if (bias) {
                    check(cudnnConvolutionBackwardBias(res.handle, &one, res.y_desc, res.y, &zero, res.b_desc, gb),
                          "cudnnConvolutionBackwardBias");
                }
            }));
            r.what = "BackwardFilter algo " + std::to_string(static_cast<int>(best.algo)) +
                     (best.determinism == CUDNN_DETERMINISTIC ? " (deterministic)" : " (non-deterministic)") +
                     workspace_note(best.memory) + (bias ? ", + BackwardBias" : "");
            r.y = download(gw, d.w_shape);
            if (bias) {
                const std::vector<float> b = download(gb, Shape{c.params.out_channels});
                r.y.insert(r.y.end(), b.begin(), b.end());
            }
        }
    });
}

}  // namespace convt3d::bench
