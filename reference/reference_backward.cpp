#include "reference_backward.h"

#include "reference.h"
#include "connections.h"

namespace convt3d::reference {

Gradients backward(const Params &p, const Shape &input_shape, const std::vector<float> &input,
                   const std::vector<float> &weight, const std::vector<float> &grad_output) {
    const Geometry geo(p, input_shape, reference::output_shape(p, input_shape));
    Gradients g;
    g.grad_input.assign(input.size(), 0.0);
    g.grad_weight.assign(weight.size(), 0.0);
    g.grad_bias.assign(static_cast<size_t>(geo.CO), 0.0);
    const int64_t plane = geo.OD * geo.OH * geo.OW;
    for (int64_t n = 0; n < geo.N; n++) {
        const float *go = grad_output.data() + n * geo.out_item_size;
        for (int64_t co = 0; co < geo.CO; co++) {
            for (int64_t i = 0; i < plane; i++) g.grad_bias[co] += go[co * plane + i];
        }
        // The forward pass adds x * w into y; so dL/dx += w * g and dL/dw += x * g.
        for_each_connection(p, geo, n, [&](int64_t in_at, int64_t w_at, int64_t out_at) {
            g.grad_input[in_at] += double(weight[w_at]) * go[out_at];
            g.grad_weight[w_at] += double(input[in_at]) * go[out_at];
        });
    }
    return g;
}

}  // namespace convt3d::reference
