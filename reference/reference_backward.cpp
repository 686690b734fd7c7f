#include "reference_backward.h"

#include "reference.h"

namespace convt3d::reference {

Gradients backward(const Params &p, const Shape &input_shape, const std::vector<float> &input,
                   const std::vector<float> &weight, const std::vector<float> &grad_output) {
    const Shape out_shape = reference::output_shape(p, input_shape);
    const size_t c = input_shape.size() - 4;
    const int64_t N = c ? input_shape[0] : 1;
    const int64_t C = input_shape[c], D = input_shape[c + 1], H = input_shape[c + 2], W = input_shape[c + 3];
    const int64_t CO = out_shape[c], OD = out_shape[c + 1], OH = out_shape[c + 2], OW = out_shape[c + 3];
    const int64_t KD = p.kernel_size[0], KH = p.kernel_size[1], KW = p.kernel_size[2];
    const int64_t cin_g = C / p.groups, cout_g = CO / p.groups;

    Gradients g;
    g.grad_input.assign(input.size(), 0.0);
    g.grad_weight.assign(weight.size(), 0.0);
    g.grad_bias.assign(static_cast<size_t>(CO), 0.0);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t co = 0; co < CO; co++) {
            for (int64_t i = 0; i < OD * OH * OW; i++) g.grad_bias[co] += grad_output[(n * CO + co) * OD * OH * OW + i];
        }
        for (int64_t ci = 0; ci < C; ci++) {
            const int64_t group = ci / cin_g;
            for (int64_t id = 0; id < D; id++)
            for (int64_t ih = 0; ih < H; ih++)
            for (int64_t iw = 0; iw < W; iw++) {
                const int64_t in_at = (((n * C + ci) * D + id) * H + ih) * W + iw;
                const double x = input[in_at];
                double gi = 0;
                for (int64_t cg = 0; cg < cout_g; cg++) {
                    const int64_t co = group * cout_g + cg;
                    const int64_t w_base = (ci * cout_g + cg) * KD * KH * KW;
                    for (int64_t kd = 0; kd < KD; kd++) {
                        const int64_t od = id * p.stride[0] - p.padding[0] + kd * p.dilation[0];
                        if (od < 0 || od >= OD) continue;
                        for (int64_t kh = 0; kh < KH; kh++) {
                            const int64_t oh = ih * p.stride[1] - p.padding[1] + kh * p.dilation[1];
                            if (oh < 0 || oh >= OH) continue;
                            for (int64_t kw = 0; kw < KW; kw++) {
                                const int64_t ow = iw * p.stride[2] - p.padding[2] + kw * p.dilation[2];
                                if (ow < 0 || ow >= OW) continue;
                                // The forward pass adds x * w into y; so dL/dx += w * g, dL/dw += x * g.
                                const double go = grad_output[(((n * CO + co) * OD + od) * OH + oh) * OW + ow];
                                const int64_t w_at = w_base + (kd * KH + kh) * KW + kw;
                                gi += weight[w_at] * go;
                                g.grad_weight[w_at] += x * go;
                            }
                        }
                    }
                }
                g.grad_input[in_at] = gi;
            }
        }
    }
    return g;
}

}  // namespace convt3d::reference
