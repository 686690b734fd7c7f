// The libraries under comparison, each timed the same way: a warm-up run, then `repeats`
// timed runs, median reported; output buffers allocated once outside the timing.
#pragma once

#include "suite.h"

#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace convt3d::bench {

// convt3d on the CPU through the functional API (weights are packed inside each call, so
// that cost is timed). Wall-clock time.
RunResult run_convt3d_cpu(const SuiteCase &c, const CaseData &d, int repeats);

// oneDNN's deconvolution forward (algorithm::deconvolution_direct, fp32, forward_inference)
// from NCDHW user memory: when its best implementation wants blocked layouts (format_tag::any),
// the src and dst reorders are inside the timing; the weight reorder is done once outside,
// as a framework would. Defined in onednn_runner.cpp; reports "unavailable" without oneDNN.
RunResult run_onednn(const SuiteCase &c, const CaseData &d, int repeats);
std::string onednn_description();  // version and runtime, or why it is unavailable

// --pass backward: grad_input (against oneDNN's deconvolution backward_data), or grad_weight
// with grad_bias when the case has a bias (against backward_weights), for a grad_output made
// by make_grad_output (suite.h). RunResult::y holds the gradient (then grad_bias) for the
// cross-check.
enum class Gradient { input, weight };
RunResult run_convt3d_cpu_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                                   Gradient which, int repeats);
// A gradient's values (a host copy) for the cross-check, then grad_bias's when given.
std::vector<float> gradient_values(const Tensor &grad, const Tensor *grad_bias);
RunResult run_onednn_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                              Gradient which, int repeats);

// convt3d's CUDA kernels, timed with cudaEvents on the stream they run on (cuda_runner.cpp).
RunResult run_convt3d_cuda(const SuiteCase &c, const CaseData &d, int repeats);
RunResult run_convt3d_cuda_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                                    Gradient which, int repeats);
// GPU name and theoretical fp32 FMA peak in GFLOP/s (SMs x clock x fp32 lanes per SM x 2).
std::string gpu_description(double *peak_gflops);

// cuDNN: the transposed convolution forward is cudnnConvolutionBackwardData (plus
// cudnnAddTensor for the bias, timed). fp32 with CUDNN_FMA_MATH (no TF32 tensor cores); every
// algorithm tried by cudnnFindConvolutionBackwardDataAlgorithm, the fastest kept, workspace
// allowed (cudnn_runner.cpp).
RunResult run_cudnn(const SuiteCase &c, const CaseData &d, int repeats);
// --pass backward: grad_input is cudnnConvolutionForward over grad_output; grad_weight is
// cudnnConvolutionBackwardFilter (with grad_output as the convolution's x and our input as its
// dy), plus cudnnConvolutionBackwardBias when the case has a bias, timed together.
RunResult run_cudnn_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                             Gradient which, int repeats);
std::string cudnn_description();

// A build without CUDA kernels or without cuDNN links cuda_unavailable.cpp or
// cudnn_unavailable.cpp instead: their runs report why they did not run.

// A run that did not happen, and why.
inline RunResult did_not_run(std::string why) {
    RunResult r;
    r.why = std::move(why);
    return r;
}

// Runs body(r) on a fresh result; an exception makes it a run that did not happen, with the
// exception's message (any time measured before it is dropped).
template <typename Body>
RunResult guarded_run(Body &&body) {
    RunResult r;
    try {
        body(r);
    } catch (const std::exception &e) {
        r.median_ms = -1;
        r.why = e.what();
    }
    return r;
}

// Median of a sample (sorted in place).
double median(std::vector<double> v);

// The median and the fastest of a sample of run times, in ms, into r.
void record_times(RunResult &r, const std::vector<double> &times_ms);

// Wall-clock times of `repeats` runs of run_once (which must wait for its work to finish)
// after a warm-up run.
template <typename RunOnce>
std::vector<double> time_wall_clock(int repeats, RunOnce &&run_once) {
    std::vector<double> times;
    for (int i = 0; i <= repeats; i++) {  // run 0 is the warm-up
        const auto t0 = std::chrono::steady_clock::now();
        run_once();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i > 0) times.push_back(ms);
    }
    return times;
}

}  // namespace convt3d::bench
