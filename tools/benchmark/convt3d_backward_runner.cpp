#include "runners.h"

#include <chrono>
#include <random>

namespace convt3d::bench {

RunResult run_convt3d_cpu_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                                   Gradient which, int repeats) {
    RunResult r;
    const Tensor x = Tensor::from_vector(d.x, d.x_shape);
    const Tensor w = Tensor::from_vector(d.w, d.w_shape);
    const Tensor g = Tensor::from_vector(grad_output, d.y_shape);
    Tensor gi(d.x_shape), gw(d.w_shape), gb(Shape{c.params.out_channels});
    for (Tensor *t : {&gi, &gw, &gb}) t->fill(0.0f);  // touch the pages once, as oneDNN's are
    const TensorView gi_v = gi.view(), gw_v = gw.view(), gb_v = gb.view();
    const bool input = which == Gradient::input, bias = !input && c.params.bias;
    record_times(r, time_wall_clock(repeats, [&] {
        const BackwardChoice choice = conv_transpose3d_backward(g.view(), x.view(), w.view(), input ? &gi_v : nullptr,
                                                                input ? nullptr : &gw_v, bias ? &gb_v : nullptr,
                                                                c.params);
        r.what = input ? choice.grad_input->describe() : choice.grad_weight->describe();
    }));
    r.y = gradient_values(input ? gi : gw, bias ? &gb : nullptr);
    return r;
}

std::vector<float> gradient_values(const Tensor &grad, const Tensor *grad_bias) {
    std::vector<float> v = grad.to_vector();
    if (grad_bias) {
        const std::vector<float> b = grad_bias->to_vector();
        v.insert(v.end(), b.begin(), b.end());
    }
    return v;
}

}  // namespace convt3d::bench
