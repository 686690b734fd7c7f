// The CUDA runs of a benchmark built without CUDA kernels (CONVT3D_ENABLE_CUDA=OFF): each says
// why it did not run. main() stops before them anyway, since cuda_available() is false then.
#include "runners.h"

namespace convt3d::bench {

constexpr const char *kNotBuilt = "this build has no CUDA kernels (CONVT3D_ENABLE_CUDA=OFF)";

RunResult run_convt3d_cuda(const SuiteCase &, const CaseData &, int) { return did_not_run(kNotBuilt); }

RunResult run_convt3d_cuda_backward(const SuiteCase &, const CaseData &, const std::vector<float> &, Gradient, int) {
    return did_not_run(kNotBuilt);
}

std::string gpu_description(double *peak_gflops) {
    *peak_gflops = 0;
    return "no GPU (a build without CUDA)";
}

}  // namespace convt3d::bench
