#include "test_support.h"

#include "reference.h"

#include <cmath>
#include <sstream>

namespace convt3d::testing {

namespace {

int uniform(std::mt19937 &rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

// kernel names of the form k<K>s<S> fix kernel K and stride S with dilation 1; s1 fixes stride 1.
void apply_kernel_constraints(std::mt19937 &rng, const std::string &name, Params &p) {
    const size_t suffix = name.find("_g1");  // *_g1: compiled for groups == 1
    const std::string kernel = name.substr(0, suffix);
    if (suffix != std::string::npos) p.groups = 1;
    for (int a = 0; a < 3; a++) {
        if (kernel.size() == 4 && kernel[0] == 'k' && kernel[2] == 's') {
            p.kernel_size[a] = kernel[1] - '0';
            p.stride[a] = kernel[3] - '0';
            p.dilation[a] = 1;
        } else if (kernel == "s1") {
            p.stride[a] = 1;
        }
        p.output_padding[a] = uniform(rng, 0, static_cast<int>(std::max(p.stride[a], p.dilation[a])) - 1);
        p.padding[a] = uniform(rng, 0, static_cast<int>(p.dilation[a] * (p.kernel_size[a] - 1)));
    }
}

}  // namespace

Case random_case(std::mt19937 &rng, const std::string &kernel) {
    for (;;) {
        Case c;
        Params &p = c.params;
        p.groups = uniform(rng, 1, 4);
        p.in_channels = p.groups * uniform(rng, 1, 3);
        p.out_channels = p.groups * uniform(rng, 1, 3);
        for (int a = 0; a < 3; a++) {
            p.kernel_size[a] = uniform(rng, 1, 5);
            p.stride[a] = uniform(rng, 1, 4);
            p.dilation[a] = uniform(rng, 1, 3);
        }
        apply_kernel_constraints(rng, kernel, p);
        if (p.groups == 1) {
            p.in_channels = uniform(rng, 1, 24);  // wide enough to fill channel vectors
            p.out_channels = uniform(rng, 8, 40);
        }
        p.bias = uniform(rng, 0, 1) == 1;
        const int batch = uniform(rng, 0, 3);  // 0: unbatched rank-4 input
        c.input_shape = {p.in_channels, uniform(rng, 1, 5), uniform(rng, 1, 6), uniform(rng, 1, 19)};
        if (batch > 0) c.input_shape.insert(c.input_shape.begin(), batch);
        if (!kernel_supports(kernel, p)) continue;
        try {
            output_shape(p, c.input_shape);
            return c;
        } catch (const Error &) {
            continue;  // e.g. padding larger than the output; drawn again
        }
    }
}

std::string describe(const Case &c) {
    const Params &p = c.params;
    auto t = [](const Triple &v) {
        return "(" + std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]) + ")";
    };
    std::ostringstream s;
    s << "ConvTranspose3d(" << p.in_channels << ", " << p.out_channels << ", kernel_size=" << t(p.kernel_size)
      << ", stride=" << t(p.stride) << ", padding=" << t(p.padding) << ", output_padding=" << t(p.output_padding)
      << ", groups=" << p.groups << ", bias=" << p.bias << ", dilation=" << t(p.dilation)
      << ") on input " << shape_to_string(c.input_shape);
    return s.str();
}

std::vector<float> random_values(std::mt19937 &rng, int64_t n) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto &x : v) x = u(rng);
    return v;
}

Comparison compare(const std::vector<float> &out, const std::vector<double> &ref) {
    Comparison r;
    r.count = static_cast<int64_t>(out.size());
    for (size_t i = 0; i < out.size() && i < ref.size(); i++) {
        if (!std::isfinite(out[i])) {
            r.non_finite++;
            continue;
        }
        r.max_error = std::max(r.max_error, std::fabs(out[i] - ref[i]) / (1.0 + std::fabs(ref[i])));
    }
    if (out.size() != ref.size()) r.non_finite += static_cast<int64_t>(std::max(out.size(), ref.size()));
    return r;
}

double tolerance(const Case &c) {
    const Params &p = c.params;
    const double terms = double(p.in_channels / p.groups) * p.kernel_size[0] * p.kernel_size[1] * p.kernel_size[2];
    return 4e-7 * std::sqrt(terms) * 8 + 1e-6;
}

Comparison run_and_compare(std::mt19937 &rng, const Case &c, Device device, const DispatchOptions &opts) {
    const Params &p = c.params;
    Tensor x = Tensor::from_vector(random_values(rng, numel(c.input_shape)), c.input_shape);
    Tensor w = Tensor::from_vector(random_values(rng, numel(weight_shape(p))), weight_shape(p));
    std::vector<float> bias_values = p.bias ? random_values(rng, p.out_channels) : std::vector<float>{};
    Tensor b = p.bias ? Tensor::from_vector(bias_values, {p.out_channels}) : Tensor();

    // The output lives in the middle of a larger buffer whose margins hold a sentinel.
    constexpr int64_t kGuard = 1024;
    constexpr float kSentinel = 12345.0f;
    const Shape out_shape = output_shape(p, c.input_shape);
    const int64_t out_count = numel(out_shape);
    std::vector<float> fenced(static_cast<size_t>(out_count + 2 * kGuard), kSentinel);
    std::fill(fenced.begin() + kGuard, fenced.end() - kGuard, std::nanf(""));
    Tensor buffer = Tensor::from_vector(fenced, {out_count + 2 * kGuard}).to(device);
    const TensorView out_view{buffer.data() + kGuard, out_shape, device};

    const Tensor xd = x.to(device), wd = w.to(device);
    const Tensor bd = p.bias ? b.to(device) : Tensor();
    const ConstTensorView bias_view = bd.defined() ? bd.view() : ConstTensorView{};
    conv_transpose3d(xd.view(), wd.view(), p.bias ? &bias_view : nullptr, out_view, p, opts);

    const std::vector<double> ref =
        reference::forward(p, c.input_shape, x.to_vector(), w.to_vector(), bias_values);
    const std::vector<float> after = buffer.to_vector();
    Comparison r = compare(std::vector<float>(after.begin() + kGuard, after.end() - kGuard), ref);
    for (int64_t i = 0; i < kGuard; i++) {
        r.guard_damaged += (after[i] != kSentinel) + (after[after.size() - 1 - i] != kSentinel);
    }
    return r;
}

}  // namespace convt3d::testing
