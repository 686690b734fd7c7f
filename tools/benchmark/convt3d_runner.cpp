#include "runners.h"

#include <algorithm>

namespace convt3d::bench {

double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void record_times(RunResult &r, const std::vector<double> &times_ms) {
    r.median_ms = median(times_ms);
    r.fastest_ms = times_ms.empty() ? -1 : *std::min_element(times_ms.begin(), times_ms.end());
}

RunResult run_convt3d_cpu(const SuiteCase &c, const CaseData &d, int repeats) {
    RunResult r;
    const Tensor x = Tensor::from_vector(d.x, d.x_shape);
    const Tensor w = Tensor::from_vector(d.w, d.w_shape);
    const Tensor b = c.params.bias ? Tensor::from_vector(d.b, {c.params.out_channels}) : Tensor();
    Tensor y(d.y_shape);
    y.fill(0.0f);  // touch the pages once, as oneDNN's preallocated dst is
    const ConstTensorView bias_view = c.params.bias ? b.view() : ConstTensorView{};
    const ConstTensorView *bias = c.params.bias ? &bias_view : nullptr;
    record_times(r, time_wall_clock(repeats, [&] {
        r.what = conv_transpose3d(x.view(), w.view(), bias, y.view(), c.params).describe();
    }));
    r.y = y.to_vector();
    return r;
}

}  // namespace convt3d::bench
