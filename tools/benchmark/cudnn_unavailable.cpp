// cuDNN's runs in a benchmark built without cuDNN (no CUDA, or cudnn.h / libcudnn not found):
// convt3d's CUDA kernels are still timed, beside "cuDNN did not run: ...".
#include "runners.h"

namespace convt3d::bench {

namespace {

RunResult not_built() {
    RunResult r;
    r.why = "cuDNN not found at build time";
    return r;
}

}  // namespace

RunResult run_cudnn(const SuiteCase &, const CaseData &, int) { return not_built(); }

RunResult run_cudnn_backward(const SuiteCase &, const CaseData &, const std::vector<float> &, Gradient, int) {
    return not_built();
}

std::string cudnn_description() { return "cuDNN not found at build time"; }

}  // namespace convt3d::bench
