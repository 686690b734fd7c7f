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
#include "runners.h"

#include <cudnn.h>
#include <cuda_runtime_api.h>

#include <stdexcept>

namespace convt3d::bench {

namespace {

void check(cudnnStatus_t s, const char *what) {
    if (s != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(s));
}

void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
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
    cudaEvent_t start = nullptr, stop = nullptr;
    void *x = nullptr, *w = nullptr, *b = nullptr, *y = nullptr, *workspace = nullptr;
    ~Resources() {
        for (void *p : {x, w, b, y, workspace}) cudaFree(p);
        if (start) cudaEventDestroy(start);
        if (stop) cudaEventDestroy(stop);
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

}  // namespace

std::string cudnn_description() {
    const size_t v = cudnnGetVersion();
    return "cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
           " (fp32, CUDNN_FMA_MATH: no TF32)";
}

RunResult run_cudnn(const SuiteCase &c, const CaseData &d, int repeats) {
    RunResult r;
    try {
        const Params &p = c.params;
        Resources res;
        check(cudnnCreate(&res.handle), "cudnnCreate");  // on the legacy default stream
        check(cudnnCreateTensorDescriptor(&res.x_desc), "cudnnCreateTensorDescriptor");
        check(cudnnCreateTensorDescriptor(&res.y_desc), "cudnnCreateTensorDescriptor");
        check(cudnnCreateFilterDescriptor(&res.w_desc), "cudnnCreateFilterDescriptor");
        check(cudnnCreateConvolutionDescriptor(&res.conv), "cudnnCreateConvolutionDescriptor");
        set_packed(res.x_desc, d.x_shape);  // the convolution's dy
        set_packed(res.y_desc, d.y_shape);  // the convolution's dx
        const int w_dims[5] = {static_cast<int>(d.w_shape[0]), static_cast<int>(d.w_shape[1]),
                               static_cast<int>(d.w_shape[2]), static_cast<int>(d.w_shape[3]),
                               static_cast<int>(d.w_shape[4])};
        check(cudnnSetFilterNdDescriptor(res.w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, w_dims),
              "cudnnSetFilterNdDescriptor");
        int pad[3], stride[3], dilation[3];
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

        res.x = upload(d.x);
        res.w = upload(d.w);
        if (p.bias) res.b = upload(d.b);
        const size_t y_bytes = static_cast<size_t>(numel(d.y_shape)) * sizeof(float);
        check(cudaMalloc(&res.y, y_bytes), "cudaMalloc");

        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int returned = 0;
        check(cudnnFindConvolutionBackwardDataAlgorithm(res.handle, res.w_desc, res.x_desc, res.conv, res.y_desc,
                                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf),
              "cudnnFindConvolutionBackwardDataAlgorithm");
        const cudnnConvolutionBwdDataAlgoPerf_t *best = nullptr;
        for (int i = 0; i < returned; i++) {  // sorted fastest first
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType != CUDNN_TENSOR_OP_MATH &&
                perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) {
                best = &perf[i];
                break;
            }
        }
        if (!best) throw std::runtime_error("no cuDNN backward-data algorithm supports this case in fp32 FMA math");
        if (best->memory) check(cudaMalloc(&res.workspace, best->memory), "cudaMalloc (workspace)");

        check(cudaEventCreate(&res.start), "cudaEventCreate");
        check(cudaEventCreate(&res.stop), "cudaEventCreate");
        const float one = 1.0f, zero = 0.0f;
        std::vector<double> times;
        for (int i = 0; i <= repeats; i++) {  // run 0 is the warm-up
            check(cudaEventRecord(res.start, 0), "cudaEventRecord");
            check(cudnnConvolutionBackwardData(res.handle, &one, res.w_desc, res.w, res.x_desc, res.x, res.conv,
                                               best->algo, res.workspace, best->memory, &zero, res.y_desc, res.y),
                  "cudnnConvolutionBackwardData");
            if (p.bias) {
                check(cudnnAddTensor(res.handle, &one, res.b_desc, res.b, &one, res.y_desc, res.y), "cudnnAddTensor");
            }
            check(cudaEventRecord(res.stop, 0), "cudaEventRecord");
            check(cudaEventSynchronize(res.stop), "cudaEventSynchronize");
            float ms = 0;
            check(cudaEventElapsedTime(&ms, res.start, res.stop), "cudaEventElapsedTime");
            if (i > 0) times.push_back(ms);
        }
        r.median_ms = median(times);
        r.what = std::string(algo_name(best->algo)) + ", workspace " +
                 std::to_string(best->memory >> 20) + " MiB" + (p.bias ? ", + cudnnAddTensor" : "");
        r.y.resize(static_cast<size_t>(numel(d.y_shape)));
        check(cudaMemcpy(r.y.data(), res.y, y_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
    } catch (const std::exception &e) {
        r.median_ms = -1;
        r.why = e.what();
    }
    return r;
}

}  // namespace convt3d::bench
