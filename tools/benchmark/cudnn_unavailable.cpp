// cuDNN's runs in a benchmark built without cuDNN (no CUDA, or cudnn.h / libcudnn not found):
// convt3d's CUDA kernels are still timed, beside "cuDNN did not run: ...".
#include "runners.h"

namespace convt3d::bench {

constexpr const char *kNotBuilt = "cuDNN not found at build time";

RunResult run_cudnn(const SuiteCase &, const CaseData &, int) { return did_not_run(kNotBuilt); }

RunResult run_cudnn_backward(const SuiteCase &, const CaseData &, const std::vector<float> &, Gradient, int) {
    return did_not_run(kNotBuilt);
}

std::string cudnn_description() { return kNotBuilt; }

}  // namespace convt3d::bench
