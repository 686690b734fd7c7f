// convt3d's CUDA kernels timed with cudaEvents (cuda_timing.h). The runtime runs Halide's
// kernels in the CUDA runtime API's primary context on the legacy default stream.
#include "cuda_timing.h"
#include "runners.h"

#include <limits>

namespace convt3d::bench {

namespace {

// fp32 lanes per SM by compute capability (CUDA C programming guide, arithmetic throughput).
int fp32_lanes_per_sm(int major, int minor) {
    if (major == 8 && minor == 0) return 64;  // A100
    if (major >= 8) return 128;               // 8.6, 8.9, 9.0 (H100), 10.x, 12.x
    if (major == 7) return 64;
    return 128;
}

}  // namespace

std::string gpu_description(double *peak_gflops) {
    int dev = 0, sms = 0, khz = 0;
    cudaDeviceProp prop{};
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev), "cudaDeviceGetAttribute");
    *peak_gflops = double(sms) * khz * 1e3 * fp32_lanes_per_sm(prop.major, prop.minor) * 2 / 1e9;
    return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
           std::to_string(sms) + " SMs, " + std::to_string(khz / 1000) + " MHz boost)";
}

RunResult run_convt3d_cuda(const SuiteCase &c, const CaseData &d, int repeats) {
    return guarded_run([&](RunResult &r) {
        const Tensor x = Tensor::from_vector(d.x, d.x_shape).to(Device::cuda);
        const Tensor w = Tensor::from_vector(d.w, d.w_shape).to(Device::cuda);
        const Tensor b = c.params.bias ? Tensor::from_vector(d.b, {c.params.out_channels}).to(Device::cuda) : Tensor();
        Tensor y(d.y_shape, Device::cuda);
        y.fill(std::numeric_limits<float>::quiet_NaN());  // unwritten outputs fail the cross-check
        const ConstTensorView bias_view = c.params.bias ? b.view() : ConstTensorView{};
        const ConstTensorView *bias = c.params.bias ? &bias_view : nullptr;
        record_times(r, time_on_default_stream(repeats, [&] {
            r.what = conv_transpose3d(x.view(), w.view(), bias, y.view(), c.params).describe();
        }));
        r.y = y.to_vector();
    });
}

RunResult run_convt3d_cuda_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                                    Gradient which, int repeats) {
    return guarded_run([&](RunResult &r) {
        const Tensor x = Tensor::from_vector(d.x, d.x_shape).to(Device::cuda);
        const Tensor w = Tensor::from_vector(d.w, d.w_shape).to(Device::cuda);
        const Tensor g = Tensor::from_vector(grad_output, d.y_shape).to(Device::cuda);
        Tensor gi(d.x_shape, Device::cuda), gw(d.w_shape, Device::cuda), gb(Shape{c.params.out_channels}, Device::cuda);
        for (Tensor *t : {&gi, &gw, &gb}) t->fill(std::numeric_limits<float>::quiet_NaN());
        const TensorView gi_v = gi.view(), gw_v = gw.view(), gb_v = gb.view();
        const bool input = which == Gradient::input, bias = !input && c.params.bias;
        record_times(r, time_on_default_stream(repeats, [&] {
            const BackwardChoice choice =
                conv_transpose3d_backward(g.view(), x.view(), w.view(), input ? &gi_v : nullptr,
                                          input ? nullptr : &gw_v, bias ? &gb_v : nullptr, c.params);
            r.what = input ? choice.grad_input->describe() : choice.grad_weight->describe();
        }));
        r.y = gradient_values(input ? gi : gw, bias ? &gb : nullptr);
    });
}

}  // namespace convt3d::bench
