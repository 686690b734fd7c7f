#include "reference.h"

#include <algorithm>
#include <thread>

namespace convt3d::reference {

Shape output_shape(const Params &p, const Shape &input_shape) {
    Shape out = input_shape;
    const size_t c = input_shape.size() - 4;
    out[c] = p.out_channels;
    for (int i = 0; i < 3; i++) {
        out[c + 1 + i] = (input_shape[c + 1 + i] - 1) * p.stride[i] - 2 * p.padding[i] +
                         p.dilation[i] * (p.kernel_size[i] - 1) + p.output_padding[i] + 1;
    }
    return out;
}

std::vector<double> forward(const Params &p, const Shape &input_shape, const std::vector<float> &input,
                            const std::vector<float> &weight, const std::vector<float> &bias,
                            int64_t batch_begin, int64_t batch_end) {
    const Shape out_shape = reference::output_shape(p, input_shape);
    const size_t c = input_shape.size() - 4;
    const int64_t N = c ? input_shape[0] : 1;
    const int64_t C = input_shape[c], D = input_shape[c + 1], H = input_shape[c + 2], W = input_shape[c + 3];
    const int64_t CO = out_shape[c], OD = out_shape[c + 1], OH = out_shape[c + 2], OW = out_shape[c + 3];
    const int64_t KD = p.kernel_size[0], KH = p.kernel_size[1], KW = p.kernel_size[2];
    const int64_t cin_g = C / p.groups, cout_g = CO / p.groups;
    if (batch_end < 0) batch_end = N;
    const int64_t out_items = batch_end - batch_begin;
    const int64_t out_item_size = CO * OD * OH * OW;
    std::vector<double> out(static_cast<size_t>(out_items * out_item_size));

    auto one_item = [&](int64_t n) {
        double *o = out.data() + (n - batch_begin) * out_item_size;
        for (int64_t co = 0; co < CO; co++) {
            std::fill(o + co * OD * OH * OW, o + (co + 1) * OD * OH * OW, bias.empty() ? 0.0 : double(bias[co]));
        }
        for (int64_t ci = 0; ci < C; ci++) {
            const int64_t g = ci / cin_g;
            for (int64_t id = 0; id < D; id++)
            for (int64_t ih = 0; ih < H; ih++)
            for (int64_t iw = 0; iw < W; iw++) {
                const double v = input[(((n * C + ci) * D + id) * H + ih) * W + iw];
                for (int64_t cg = 0; cg < cout_g; cg++) {
                    const int64_t co = g * cout_g + cg;
                    const float *w = &weight[((ci * cout_g + cg) * KD) * KH * KW];
                    for (int64_t kd = 0; kd < KD; kd++) {
                        const int64_t od = id * p.stride[0] - p.padding[0] + kd * p.dilation[0];
                        if (od < 0 || od >= OD) continue;
                        for (int64_t kh = 0; kh < KH; kh++) {
                            const int64_t oh = ih * p.stride[1] - p.padding[1] + kh * p.dilation[1];
                            if (oh < 0 || oh >= OH) continue;
                            for (int64_t kw = 0; kw < KW; kw++) {
                                const int64_t ow = iw * p.stride[2] - p.padding[2] + kw * p.dilation[2];
                                if (ow < 0 || ow >= OW) continue;
                                o[((co * OD + od) * OH + oh) * OW + ow] += v * w[(kd * KH + kh) * KW + kw];
                            }
                        }
                    }
                }
            }
        }
    };
    // Batch items are independent: one thread each, a few at a time.
    const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(out_items, std::thread::hardware_concurrency()));
    std::vector<std::thread> threads;
    for (int64_t t = 0; t < workers; t++) {
        threads.emplace_back([&, t] {
            for (int64_t n = batch_begin + t; n < batch_end; n += workers) one_item(n);
        });
    }
    for (auto &th : threads) th.join();
    return out;
}

}  // namespace convt3d::reference
