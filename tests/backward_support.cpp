#include "backward_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace convt3d::testing {

namespace {

constexpr int64_t kGuard = 512;
constexpr float kSentinel = 12345.0f;

std::vector<float> absolute(const std::vector<float> &v) {
    std::vector<float> a(v.size());
    for (size_t i = 0; i < v.size(); i++) a[i] = std::fabs(v[i]);
    return a;
}

// A NaN-poisoned, fenced output of n floats at `offset` in its buffer.
struct FencedOutput {
    Tensor buffer;
    int64_t offset = 0, count = 0;

    FencedOutput(int64_t n, int64_t offset, Device device)
        : buffer(placed(std::vector<float>(static_cast<size_t>(n), std::nanf("")), offset, kGuard, kSentinel, device)),
          offset(offset), count(n) {}
    TensorView view(const Shape &shape) { return {buffer.data() + offset, shape, buffer.device()}; }
    // The output values; adds the damaged sentinels to `damaged`.
    std::vector<float> read(int64_t &damaged) const {
        const std::vector<float> all = buffer.to_vector();
        for (int64_t i = 0; i < static_cast<int64_t>(all.size()); i++) {
            if (i < offset || i >= offset + count) damaged += all[static_cast<size_t>(i)] != kSentinel;
        }
        return {all.begin() + offset, all.begin() + offset + count};
    }
};

}  // namespace

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

Case random_backward_case(std::mt19937 &rng, const std::string &kernel, CaseSize size) {
    if (kernel.empty() || kernel == "generic") return random_case(rng, "generic", size);
    // A forced kernel name applies to every gradient that has a kernel of that name, so the
    // parameters must suit each of those.
    std::vector<std::string> gradients;
    for (const char *g : {"grad_input", "grad_weight"}) {
        const std::vector<std::string> names = backward_kernel_names(g, Device::cpu);
        if (std::find(names.begin(), names.end(), kernel) != names.end()) gradients.push_back(g);
    }
    if (gradients.empty()) throw std::runtime_error("no backward kernel is named '" + kernel + "'");
    return random_case(
        rng, kernel,
        [&](const Params &p) {
            return std::all_of(gradients.begin(), gradients.end(),
                               [&](const std::string &g) { return backward_kernel_supports(g, kernel, p); });
        },
        size);
}

BackwardInputs make_backward_inputs(std::mt19937 &rng, const Case &c, bool integers) {
    BackwardInputs in{make_inputs(rng, c, integers), {}};
    in.grad_output = random_values(rng, numel(output_shape(c.params, c.input_shape)), integers);
    return in;
}

BackwardRun run_backward_fenced(const Case &c, const BackwardInputs &in, Device device, const DispatchOptions &opts,
                                const GradientRequest &which) {
    const Params &p = c.params;
    const Shape out_shape = output_shape(p, c.input_shape), w_shape = weight_shape(p);
    const int64_t odd = device == Device::cpu ? 1 + numel(c.input_shape) % 3 : 0;  // unaligned views on the CPU
    const std::vector<float> x = in.forward.x.to_vector(), w = in.forward.w.to_vector();
    const Tensor xd = placed(x, odd, 0, 0.0f, device), wd = placed(w, 0, 0, 0.0f, device);
    const Tensor gd = placed(in.grad_output, odd, 0, 0.0f, device);
    FencedOutput gi(numel(c.input_shape), kGuard + odd, device), gw(numel(w_shape), kGuard, device),
        gb(p.out_channels, kGuard + odd, device);
    const TensorView gi_view = gi.view(c.input_shape), gw_view = gw.view(w_shape), gb_view = gb.view({p.out_channels});
    const bool want_bias = which.bias && p.bias;

    BackwardRun r;
    r.choice = conv_transpose3d_backward(ConstTensorView{gd.data() + odd, out_shape, device},
                                         ConstTensorView{xd.data() + odd, c.input_shape, device},
                                         ConstTensorView{wd.data(), w_shape, device}, which.input ? &gi_view : nullptr,
                                         which.weight ? &gw_view : nullptr, want_bias ? &gb_view : nullptr, p, opts);
    if (which.input) r.grad_input = gi.read(r.guard_damaged);
    if (which.weight) r.grad_weight = gw.read(r.guard_damaged);
    if (want_bias) r.grad_bias = gb.read(r.guard_damaged);
    auto same = [](const Tensor &t, int64_t at, const std::vector<float> &v) {
        const std::vector<float> now = t.to_vector();
        return std::memcmp(now.data() + at, v.data(), v.size() * sizeof(float)) == 0;
    };
    r.inputs_changed = !same(xd, odd, x) || !same(wd, 0, w) || !same(gd, odd, in.grad_output);
    return r;
}

BackwardReference backward_reference(const Case &c, const BackwardInputs &in) {
    const std::vector<float> x = in.forward.x.to_vector(), w = in.forward.w.to_vector();
    return {reference::backward(c.params, c.input_shape, x, w, in.grad_output),
            reference::backward(c.params, c.input_shape, absolute(x), absolute(w), absolute(in.grad_output))};
}

bool upsamples_or_partial_tile(const Case &c, int64_t tile) {
    const Params &p = c.params;
    // Both times the batch.
    const int64_t in_positions = numel(c.input_shape) / p.in_channels,
                  out_positions = numel(output_shape(p, c.input_shape)) / p.out_channels;
    return out_positions >= 2 * in_positions || p.out_channels % tile != 0;
}

TermCounts term_counts(const Case &c) {
    const Params &p = c.params;
    const Shape out = output_shape(p, c.input_shape);
    const double taps = double(p.kernel_size[0] * p.kernel_size[1] * p.kernel_size[2]);
    const double batch = c.input_shape.size() == 5 ? double(c.input_shape[0]) : 1.0;
    const size_t s = c.input_shape.size() - 3;
    return {double(p.out_channels / p.groups) * taps,
            batch * double(c.input_shape[s] * c.input_shape[s + 1] * c.input_shape[s + 2]),
            batch * double(out[s] * out[s + 1] * out[s + 2])};
}

bool check_gradient(const char *what, const std::vector<float> &got, const std::vector<double> &ref,
                    const std::vector<double> &magnitude, double terms, bool integers, const Shape &shape) {
    // float32 sums of `terms` products: rounding errors grow like sqrt(terms) (each partial
    // sum is rounded to half an ulp of at most the magnitude); 8x headroom.
    const double bound = 8 * 6e-8 * std::sqrt(terms + 1);
    int64_t non_finite = 0, inexact = 0, worst = -1;
    double worst_ratio = 0;
    bool ok = got.size() == ref.size();
    for (size_t i = 0; ok && i < got.size(); i++) {
        if (!std::isfinite(got[i])) {
            if (non_finite++ == 0 && worst < 0) worst = static_cast<int64_t>(i);
            continue;
        }
        const double err = std::fabs(double(got[i]) - ref[i]);
        inexact += err != 0;
        const double ratio = err / (bound * magnitude[i] + 1e-30);
        if (ratio > worst_ratio && non_finite == 0) {
            worst_ratio = ratio;
            worst = static_cast<int64_t>(i);
        }
    }
    INFO(what << " " << shape_to_string(shape) << ": " << non_finite << " non-finite, " << inexact << " inexact of "
              << got.size() << "; worst element " << position(shape, worst) << ": got "
              << (worst >= 0 ? got[size_t(worst)] : 0.0f) << ", reference " << (worst >= 0 ? ref[size_t(worst)] : 0.0)
              << ", error / bound " << worst_ratio);
    CHECK(got.size() == ref.size());
    CHECK(non_finite == 0);
    if (integers) {
        CHECK(inexact == 0);
    } else {
        CHECK(worst_ratio <= 1.0);
    }
    return got.size() == ref.size() && non_finite == 0 && (integers ? inexact == 0 : worst_ratio <= 1.0);
}

bool check_backward_case(const Case &c, const BackwardInputs &in, Device device, const DispatchOptions &opts) {
    BackwardRun r;
    try {
        r = run_backward_fenced(c, in, device, opts);
    } catch (const std::exception &e) {
        FAIL_CHECK("the call threw: " << e.what());
        return false;
    }
    bool ok = true;
    auto expect = [&](bool cond, const char *what) {
        INFO(what);
        CHECK(cond);
        ok = ok && cond;
    };
    for (const auto *choice : {&r.choice.grad_input, &r.choice.grad_weight}) {
        expect(choice->has_value(), "gradient computed");
        if (!choice->has_value()) return false;
        expect((*choice)->device == device, "on the requested device");
        const char *gradient = choice == &r.choice.grad_input ? "grad_input" : "grad_weight";
        if (!opts.kernel.empty() && backward_kernel_supports(gradient, opts.kernel, c.params)) {
            expect((*choice)->kernel == opts.kernel, "the forced kernel ran");
        }
        if (opts.cpu_isa) expect((*choice)->cpu_isa == opts.cpu_isa, "the forced ISA ran");
    }
    expect(r.choice.grad_bias.has_value() == c.params.bias, "grad_bias computed exactly when the case has bias");
    expect(r.guard_damaged == 0, "nothing written outside the gradients");
    expect(!r.inputs_changed, "inputs unchanged");

    const BackwardReference ref = backward_reference(c, in);
    const TermCounts terms = term_counts(c);
    const bool integers = in.forward.integers;
    ok = check_gradient("grad_input", r.grad_input, ref.value.grad_input, ref.magnitude.grad_input, terms.grad_input,
                        integers, c.input_shape) && ok;
    ok = check_gradient("grad_weight", r.grad_weight, ref.value.grad_weight, ref.magnitude.grad_weight,
                        terms.grad_weight, integers, weight_shape(c.params)) && ok;
    if (c.params.bias) {
        ok = check_gradient("grad_bias", r.grad_bias, ref.value.grad_bias, ref.magnitude.grad_bias, terms.grad_bias,
                            integers, {c.params.out_channels}) && ok;
    }
    return ok;
}

Coverage sweep_backward(std::mt19937 &rng, Device device, const DispatchOptions &opts, int count, int medium) {
    Coverage cov;
    for (int i = 0; i < count + medium; i++) {
        const CaseSize size = i < count ? CaseSize::small : CaseSize::medium;
        const bool integers = i % 2 == 1;
        Case c;
        try {
            c = random_backward_case(rng, opts.kernel, size);
        } catch (const std::exception &e) {
            FAIL_CHECK(e.what());
            return cov;
        }
        cov.add(c, integers);
        INFO("backward case " << i << " on " << (integers ? "integer" : "float") << " data: " << describe(c));
        const BackwardInputs in = make_backward_inputs(rng, c, integers);
        if (!check_backward_case(c, in, device, opts)) return cov;
        if (i % 4 == 0) {  // run to run: bitwise identical
            const BackwardRun a = run_backward_fenced(c, in, device, opts), b = run_backward_fenced(c, in, device, opts);
            const bool same = bitwise_equal(a.grad_input, b.grad_input) && bitwise_equal(a.grad_weight, b.grad_weight) &&
                              bitwise_equal(a.grad_bias, b.grad_bias);
            CHECK(same);
            if (!same) return cov;
        }
    }
    return cov;
}

}  // namespace convt3d::testing
