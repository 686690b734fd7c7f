// The reference itself, before the other tests trust it: hand-computed values, and
// agreement with a second, gather-form implementation written here on random cases.
#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// Gather form: each output sums the inputs whose footprint covers it,
// od = id*stride - padding + kd*dilation  <=>  id = (od + padding - kd*dilation) / stride.
std::vector<double> gather(const Params &p, const Shape &in_shape, const std::vector<float> &x,
                           const std::vector<float> &w, const std::vector<float> &b) {
    Shape s = in_shape;
    if (s.size() == 4) s.insert(s.begin(), 1);
    const int64_t N = s[0], C = s[1];
    const int64_t in[3] = {s[2], s[3], s[4]};
    int64_t out[3];
    for (int a = 0; a < 3; a++) {
        out[a] = (in[a] - 1) * p.stride[a] - 2 * p.padding[a] + p.dilation[a] * (p.kernel_size[a] - 1) +
                 p.output_padding[a] + 1;
    }
    const int64_t CO = p.out_channels, G = p.groups, cin_g = C / G, cout_g = CO / G;
    const int64_t KD = p.kernel_size[0], KH = p.kernel_size[1], KW = p.kernel_size[2];
    std::vector<double> y(static_cast<size_t>(N * CO * out[0] * out[1] * out[2]));
    // Input index along axis a for output o and tap k, or -1 when none.
    auto source = [&](int a, int64_t o, int64_t k) -> int64_t {
        const int64_t t = o + p.padding[a] - k * p.dilation[a];
        if (t < 0 || t % p.stride[a] != 0) return -1;
        const int64_t i = t / p.stride[a];
        return i < in[a] ? i : -1;
    };
    size_t at = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t co = 0; co < CO; co++) {
            const int64_t g = co / cout_g, cg = co % cout_g;
            for (int64_t od = 0; od < out[0]; od++)
                for (int64_t oh = 0; oh < out[1]; oh++)
                    for (int64_t ow = 0; ow < out[2]; ow++) {
                        double acc = b.empty() ? 0.0 : b[static_cast<size_t>(co)];
                        for (int64_t kd = 0; kd < KD; kd++) {
                            const int64_t id = source(0, od, kd);
                            if (id < 0) continue;
                            for (int64_t kh = 0; kh < KH; kh++) {
                                const int64_t ih = source(1, oh, kh);
                                if (ih < 0) continue;
                                for (int64_t kw = 0; kw < KW; kw++) {
                                    const int64_t iw = source(2, ow, kw);
                                    if (iw < 0) continue;
                                    for (int64_t j = 0; j < cin_g; j++) {
                                        const int64_t ci = g * cin_g + j;
                                        const double xv = x[static_cast<size_t>(
                                            (((n * C + ci) * in[0] + id) * in[1] + ih) * in[2] + iw)];
                                        const double wv = w[static_cast<size_t>(
                                            (((ci * cout_g + cg) * KD + kd) * KH + kh) * KW + kw)];
                                        acc += xv * wv;
                                    }
                                }
                            }
                        }
                        y[at++] = acc;
                    }
        }
    return y;
}

Params params_1d(int axis, int64_t k, int64_t s, int64_t pad, int64_t op, int64_t dil, bool bias) {
    Params p;
    p.in_channels = 1;
    p.out_channels = 1;
    p.kernel_size = {1, 1, 1};
    p.kernel_size[axis] = k;
    p.stride[axis] = s;
    p.padding[axis] = pad;
    p.output_padding[axis] = op;
    p.dilation[axis] = dil;
    p.bias = bias;
    return p;
}

// A 1-D transposed convolution of x = [1, 2, 3] with w = [1, 10], laid along `axis`.
std::vector<double> run_1d(int axis, int64_t s, int64_t pad, int64_t op, int64_t dil, std::vector<float> bias,
                           Shape *out_shape = nullptr) {
    const Params p = params_1d(axis, 2, s, pad, op, dil, !bias.empty());
    Shape in_shape{1, 1, 1, 1, 1};
    in_shape[2 + axis] = 3;
    const Shape shape = reference::output_shape(p, in_shape);
    if (out_shape) *out_shape = shape;
    return reference::forward(p, in_shape, {1, 2, 3}, {1, 10}, bias);
}

}  // namespace

TEST_CASE("reference: hand-computed 1-D transposed convolutions on each axis", "[reference]") {
    for (int axis = 0; axis < 3; axis++) {
        INFO("axis " << axis);
        Shape shape;
        CHECK(run_1d(axis, 1, 0, 0, 1, {}, &shape) == std::vector<double>{1, 12, 23, 30});
        CHECK(shape[2 + axis] == 4);
        CHECK(run_1d(axis, 2, 0, 0, 1, {}) == std::vector<double>{1, 10, 2, 20, 3, 30});
        CHECK(run_1d(axis, 2, 0, 0, 1, {0.5f}) == std::vector<double>{1.5, 10.5, 2.5, 20.5, 3.5, 30.5});
        CHECK(run_1d(axis, 2, 1, 0, 1, {}) == std::vector<double>{10, 2, 20, 3});          // padding crops
        CHECK(run_1d(axis, 2, 0, 1, 1, {}) == std::vector<double>{1, 10, 2, 20, 3, 30, 0}); // output_padding
        CHECK(run_1d(axis, 2, 0, 1, 1, {-1.0f}) == std::vector<double>{0, 9, 1, 19, 2, 29, -1});
        CHECK(run_1d(axis, 1, 0, 0, 2, {}) == std::vector<double>{1, 2, 13, 20, 30});      // dilation 2
        CHECK(run_1d(axis, 3, 0, 0, 1, {}) == std::vector<double>{1, 10, 0, 2, 20, 0, 3, 30});  // gaps
        CHECK(run_1d(axis, 3, 2, 0, 1, {}) == std::vector<double>{0, 2, 20, 0});
        CHECK(run_1d(axis, 1, 0, 1, 2, {}) == std::vector<double>{1, 2, 13, 20, 30, 0});   // op < dilation
    }
}

TEST_CASE("reference: channels, groups, batch and rank-4 input", "[reference]") {
    // Two input channels (a, b) at a single position, kernel 1: out[co] = sum_ci x[ci] w[ci][co].
    Params p;
    p.in_channels = 2;
    p.out_channels = 4;
    p.bias = true;
    const std::vector<float> x{2, 3};
    const std::vector<float> w1{1, 2, 3, 4, 5, 6, 7, 8};  // groups 1: (2, 4, 1, 1, 1)
    const std::vector<float> b{100, 200, 300, 400};
    CHECK(reference::forward(p, {1, 2, 1, 1, 1}, x, w1, b) ==
          std::vector<double>{100 + 2 * 1 + 3 * 5, 200 + 2 * 2 + 3 * 6, 300 + 2 * 3 + 3 * 7, 400 + 2 * 4 + 3 * 8});
    p.groups = 2;  // (2, 2, 1, 1, 1): channel 0 feeds outputs 0-1, channel 1 outputs 2-3
    const std::vector<float> w2{1, 2, 3, 4};
    CHECK(reference::forward(p, {1, 2, 1, 1, 1}, x, w2, b) ==
          std::vector<double>{100 + 2 * 1, 200 + 2 * 2, 300 + 3 * 3, 400 + 3 * 4});
    CHECK(reference::forward(p, {2, 1, 1, 1}, x, w2, b) == reference::forward(p, {1, 2, 1, 1, 1}, x, w2, b));
    CHECK(reference::output_shape(p, {2, 1, 1, 1}) == Shape{4, 1, 1, 1});

    // Batch items are independent.
    std::mt19937 rng(1);
    Case c = random_case(rng, "generic");
    Shape one = c.input_shape;
    if (one.size() == 4) one.insert(one.begin(), 1);
    one[0] = 1;
    Shape two = one;
    two[0] = 2;
    const auto xa = random_values(rng, numel(one)), xb = random_values(rng, numel(one));
    const auto w = random_values(rng, numel(weight_shape(c.params)));
    const auto bias = c.params.bias ? random_values(rng, c.params.out_channels) : std::vector<float>{};
    std::vector<float> xab = xa;
    xab.insert(xab.end(), xb.begin(), xb.end());
    std::vector<double> ya = reference::forward(c.params, one, xa, w, bias);
    const std::vector<double> yb = reference::forward(c.params, one, xb, w, bias);
    ya.insert(ya.end(), yb.begin(), yb.end());
    INFO(describe(c));
    CHECK(reference::forward(c.params, two, xab, w, bias) == ya);
    // A batch range computes just those items.
    CHECK(reference::forward(c.params, two, xab, w, bias, 1, 2) == yb);
}

TEST_CASE("reference: output shapes from the formula", "[reference]") {
    const Params p = seed_example_params();
    CHECK(reference::output_shape(p, {20, 16, 10, 50, 100}) == Shape{20, 33, 21, 46, 97});
    CHECK(reference::output_shape(p, {16, 10, 50, 100}) == Shape{33, 21, 46, 97});
}

TEST_CASE("reference: scatter form agrees with a gather form on random cases", "[reference]") {
    std::mt19937 rng(test_seed(31337, "reference"));
    int checked = 0;
    for (int i = 0; i < scaled(300); i++) {
        const Case c = random_case(rng, "generic", i % 10 == 9 ? CaseSize::medium : CaseSize::small);
        const Inputs in = make_inputs(rng, c, false);
        const auto x = in.x.to_vector(), w = in.w.to_vector();
        const std::vector<double> scatter = reference_output(c, in);
        const std::vector<double> gathered = gather(c.params, c.input_shape, x, w, in.bias_values);
        INFO(describe(c));
        REQUIRE(scatter.size() == gathered.size());
        double worst = 0;
        for (size_t j = 0; j < scatter.size(); j++) {
            worst = std::max(worst, std::fabs(scatter[j] - gathered[j]) / (1 + std::fabs(gathered[j])));
        }
        CHECK(worst < 1e-12);  // same products in another order, in double
        checked++;
    }
    CHECK(checked == scaled(300));
}
