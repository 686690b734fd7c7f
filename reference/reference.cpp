#include "reference.h"

#include "connections.h"

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
    const Geometry g(p, input_shape, reference::output_shape(p, input_shape));
    if (batch_end < 0) batch_end = g.N;
    const int64_t out_items = batch_end - batch_begin;
    const int64_t plane = g.OD * g.OH * g.OW;
    std::vector<double> out(static_cast<size_t>(out_items * g.out_item_size));

    auto one_item = [&](int64_t n) {
        double *o = out.data() + (n - batch_begin) * g.out_item_size;
        for (int64_t co = 0; co < g.CO; co++) {
            std::fill(o + co * plane, o + (co + 1) * plane, bias.empty() ? 0.0 : double(bias[co]));
        }
        for_each_connection(p, g, n, [&](int64_t in_at, int64_t w_at, int64_t out_at) {
            o[out_at] += double(input[in_at]) * weight[w_at];
        });
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
