#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace convt3d::testing {

namespace {

int uniform(std::mt19937 &rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool chance(std::mt19937 &rng, int num, int den) { return uniform(rng, 1, den) <= num; }

// What a kernel's name promises: "k<K>s<S>..." fixes kernel K and stride S (dilation 1) on
// every axis, "s<S>..." fixes stride S, a "g1" part (between underscores, alone, or before
// a "c" part: g1c16, g1co128) fixes groups to 1, a "dw" part one input channel per group
// (depthwise), "co<N>" at least N output channels in the groups == 1 draws (wider than they
// otherwise go). Only hints: the kernel's own preconditions decide.
struct Hints {
    int kernel = 0, stride = 0, dilation = 0;
    bool groups1 = false, depthwise = false;
    int min_out_channels = 0;
    bool any() const { return kernel || stride || dilation || groups1 || depthwise || min_out_channels; }
};

Hints hints_from_name(const std::string &name) {
    Hints h;
    static const std::regex g1("(^|_)g1($|_|c)"), dw("(^|_)dw($|_)");
    h.groups1 = std::regex_search(name, g1);
    h.depthwise = std::regex_search(name, dw);
    static const std::regex ks("^k([0-9]+)s([0-9]+)"), s("^s([0-9]+)"), co("co([0-9]+)");
    std::smatch m;
    if (std::regex_search(name, m, co)) h.min_out_channels = std::stoi(m[1]);
    if (std::regex_search(name, m, ks)) {
        h.kernel = std::stoi(m[1]);
        h.stride = std::stoi(m[2]);
        h.dilation = 1;
    } else if (std::regex_search(name, m, s)) {
        h.stride = std::stoi(m[1]);
    }
    return h;
}

std::string triple(const Triple &v) {
    return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + ")";
}

// Draws one legal candidate (not yet filtered by the kernel's preconditions).
Case draw(std::mt19937 &rng, const Hints &h, CaseSize size) {
    const bool small = size == CaseSize::small;
    Case c;
    Params &p = c.params;

    // Channels and groups.
    if (h.groups1) {
        p.groups = 1;
    } else if (h.depthwise) {
        p.groups = small ? uniform(rng, 1, 8) : uniform(rng, 4, 24);
    } else if (small) {
        const int r = uniform(rng, 1, 10);
        p.groups = r <= 5 ? 1 : r <= 9 ? uniform(rng, 2, 4) : uniform(rng, 5, 8);
    } else {
        p.groups = chance(rng, 3, 5) ? 1 : uniform(rng, 2, 4);
    }
    const int g = static_cast<int>(p.groups);
    if (h.depthwise) {
        p.in_channels = g;  // the channel multiplier (outputs per group) stays free
        p.out_channels = g * uniform(rng, 1, small ? 3 : 2);
    } else if (g == 1) {
        // Wide enough on the output side to cover channel-vector kernels' full vectors and tails.
        p.in_channels = small ? uniform(rng, 1, 12) : uniform(rng, 8, 32);
        p.out_channels = small ? uniform(rng, 1, 24) : uniform(rng, 16, 48);
        if (h.min_out_channels) p.out_channels = h.min_out_channels + uniform(rng, 0, 40);
    } else {
        p.in_channels = g * uniform(rng, 1, std::max(1, (small ? 8 : 24) / g));
        p.out_channels = g * uniform(rng, 1, std::max(1, (small ? 8 : 32) / g));
    }
    p.bias = chance(rng, 2, 3);

    // Per-axis geometry; a third of the cases are isotropic.
    const bool isotropic = chance(rng, 1, 3);
    int64_t extent[3];
    for (int a = 0; a < 3; a++) {
        if (isotropic && a > 0) {
            p.kernel_size[a] = p.kernel_size[0];
            p.stride[a] = p.stride[0];
            p.dilation[a] = p.dilation[0];
        } else {
            p.kernel_size[a] = h.kernel ? h.kernel : uniform(rng, 1, 5);
            p.stride[a] = h.stride ? h.stride : uniform(rng, 1, 4);
            p.dilation[a] = h.dilation ? h.dilation : (chance(rng, 1, 2) ? 1 : uniform(rng, 2, 3));
        }
        const int64_t k = p.kernel_size[a], s = p.stride[a], d = p.dilation[a];
        // PyTorch: output_padding must be smaller than either stride or dilation.
        p.output_padding[a] = chance(rng, 1, 2) ? 0 : uniform(rng, 0, static_cast<int>(std::max(s, d)) - 1);
        static const int kSmallMax[3] = {5, 7, 13}, kMediumMin[3] = {2, 3, 8}, kMediumMax[3] = {6, 9, 24};
        extent[a] = small ? uniform(rng, 1, kSmallMax[a]) : uniform(rng, kMediumMin[a], kMediumMax[a]);
        // Output size before padding; padding up to (full-1)/2 keeps at least one output.
        const int64_t full = (extent[a] - 1) * s + d * (k - 1) + p.output_padding[a] + 1;
        const int64_t most = (full - 1) / 2;
        p.padding[a] = chance(rng, 3, 4) ? uniform(rng, 0, static_cast<int>(std::min(d * (k - 1), most)))
                                         : uniform(rng, 0, static_cast<int>(most));
    }

    const int batch = small ? uniform(rng, 0, 3) : uniform(rng, 1, 2);  // 0: unbatched
    c.input_shape = {p.in_channels, extent[0], extent[1], extent[2]};
    if (batch > 0) c.input_shape.insert(c.input_shape.begin(), batch);
    return c;
}

// Work of the reference (multiply-adds) and size of the output, to keep cases cheap.
bool affordable(const Case &c, CaseSize size) {
    const Params &p = c.params;
    const Shape out = reference::output_shape(p, c.input_shape);
    double in_count = 1, out_count = 1;
    for (int64_t v : c.input_shape) in_count *= double(v);
    for (int64_t v : out) out_count *= double(v);
    const double macs = in_count * double(p.out_channels / p.groups) * double(p.kernel_size[0]) *
                        double(p.kernel_size[1]) * double(p.kernel_size[2]);
    return size == CaseSize::small ? (macs <= 4e5 && out_count <= 1.5e5) : (macs <= 8e6 && out_count <= 2e6);
}

// FNV-1a: a stable hash, so a named sweep's seed is the same on every platform.
uint32_t fnv1a(const std::string &s, uint32_t h = 2166136261u) {
    for (unsigned char ch : s) h = (h ^ ch) * 16777619u;
    return h;
}

}  // namespace

Tensor placed(const std::vector<float> &values, int64_t offset, int64_t after, float fill, Device device) {
    std::vector<float> host(values.size() + static_cast<size_t>(offset + after), fill);
    std::copy(values.begin(), values.end(), host.begin() + offset);
    return Tensor::from_vector(host, {static_cast<int64_t>(host.size())}).to(device);
}

Case random_case(std::mt19937 &rng, const std::string &kernel, CaseSize size) {
    return random_case(rng, kernel, [&](const Params &p) { return kernel_supports(kernel, p); }, size);
}

Case random_case(std::mt19937 &rng, const std::string &kernel, const std::function<bool(const Params &)> &accepts,
                 CaseSize size) {
    const Hints hints = hints_from_name(kernel);
    constexpr int kMaxDraws = 20000;
    for (int attempt = 0; attempt < kMaxDraws; attempt++) {
        // Nine in ten draws follow the name's hints; the rest are unconstrained, so a kernel
        // whose name says nothing (or says it wrongly) is still reached through kernel_supports.
        const Case c = draw(rng, hints.any() && chance(rng, 9, 10) ? hints : Hints{}, size);
        if (!affordable(c, size) || !accepts(c.params)) continue;
        try {
            output_shape(c.params, c.input_shape);
        } catch (const Error &e) {
            // The generator only draws legal cases; the library disagreeing is a bug.
            throw std::logic_error("output_shape rejected a legal case " + describe(c) + ": " + e.what());
        }
        return c;
    }
    throw std::runtime_error("no parameters found for kernel '" + kernel + "' in " + std::to_string(kMaxDraws) +
                             " random draws: extend the test generator for its preconditions");
}

std::string describe(const Case &c) {
    const Params &p = c.params;
    std::ostringstream s;
    s << "ConvTranspose3d(" << p.in_channels << ", " << p.out_channels << ", kernel_size=" << triple(p.kernel_size)
      << ", stride=" << triple(p.stride) << ", padding=" << triple(p.padding)
      << ", output_padding=" << triple(p.output_padding) << ", groups=" << p.groups
      << ", bias=" << (p.bias ? "True" : "False") << ", dilation=" << triple(p.dilation) << ") on input "
      << shape_to_string(c.input_shape);
    return s.str();
}

std::vector<float> random_values(std::mt19937 &rng, int64_t n, bool integers) {
    std::vector<float> v(static_cast<size_t>(n));
    if (integers) {
        std::uniform_int_distribution<int> u(-3, 3);
        for (auto &x : v) x = static_cast<float>(u(rng));
    } else {
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (auto &x : v) x = u(rng);
    }
    return v;
}

Inputs make_inputs(std::mt19937 &rng, const Case &c, bool integers) {
    const Params &p = c.params;
    Inputs in;
    in.integers = integers;
    in.x = Tensor::from_vector(random_values(rng, numel(c.input_shape), integers), c.input_shape);
    in.w = Tensor::from_vector(random_values(rng, numel(weight_shape(p)), integers), weight_shape(p));
    if (p.bias) {
        in.bias_values = random_values(rng, p.out_channels, integers);
        in.b = Tensor::from_vector(in.bias_values, {p.out_channels});
    }
    return in;
}

std::vector<double> reference_output(const Case &c, const Inputs &in) {
    return reference::forward(c.params, c.input_shape, in.x.to_vector(), in.w.to_vector(), in.bias_values);
}

Run run_fenced(const Case &c, const Inputs &in, Device device, const DispatchOptions &opts) {
    const Params &p = c.params;
    // Output in the middle of a larger buffer: NaN inside, sentinels around it. The start
    // is deliberately not vector-aligned on the CPU (a view into a user's buffer may not be).
    constexpr int64_t kGuard = 1024;
    constexpr float kSentinel = 12345.0f;
    const int64_t offset = device == Device::cpu ? kGuard + (numel(c.input_shape) % 3) : kGuard;
    const Shape out_shape = output_shape(p, c.input_shape);
    const int64_t out_count = numel(out_shape);
    Tensor out_buffer = placed(std::vector<float>(static_cast<size_t>(out_count), std::nanf("")), offset, kGuard,
                               kSentinel, device);
    // Inputs at odd offsets too (CPU), each in its own buffer.
    const int64_t in_offset = device == Device::cpu ? 1 : 0;
    const std::vector<float> x = in.x.to_vector(), w = in.w.to_vector();
    const Tensor xd = placed(x, in_offset, 0, 0.0f, device);
    const Tensor wd = placed(w, 0, 0, 0.0f, device);
    const Tensor bd = p.bias ? placed(in.bias_values, in_offset, 0, 0.0f, device) : Tensor();
    const ConstTensorView bias_view = p.bias ? ConstTensorView{bd.data() + in_offset, {p.out_channels}, device}
                                             : ConstTensorView{};

    Run r;
    r.choice = conv_transpose3d(ConstTensorView{xd.data() + in_offset, c.input_shape, device},
                                ConstTensorView{wd.data(), weight_shape(p), device}, p.bias ? &bias_view : nullptr,
                                TensorView{out_buffer.data() + offset, out_shape, device}, p, opts);

    const std::vector<float> after = out_buffer.to_vector();
    r.output.assign(after.begin() + offset, after.begin() + offset + out_count);
    for (int64_t i = 0; i < offset; i++) r.guard_damaged += after[i] != kSentinel;
    for (int64_t i = offset + out_count; i < static_cast<int64_t>(after.size()); i++) {
        r.guard_damaged += after[i] != kSentinel;
    }
    auto same = [](const std::vector<float> &a, const std::vector<float> &b, int64_t at) {
        return std::memcmp(a.data() + at, b.data(), b.size() * sizeof(float)) == 0;
    };
    r.inputs_changed = !same(xd.to_vector(), x, in_offset) || !same(wd.to_vector(), w, 0) ||
                       (p.bias && !same(bd.to_vector(), in.bias_values, in_offset));
    return r;
}

Comparison compare(const std::vector<float> &out, const std::vector<double> &ref) {
    Comparison r;
    r.count = static_cast<int64_t>(out.size());
    if (out.size() != ref.size()) {
        r.non_finite = static_cast<int64_t>(std::max(out.size(), ref.size()));
        r.mismatched = r.non_finite;
        return r;
    }
    for (size_t i = 0; i < out.size(); i++) {
        const auto at = static_cast<int64_t>(i);
        if (!std::isfinite(out[i])) {
            if (r.non_finite++ == 0) {
                r.first_bad = at;
                r.first_bad_out = out[i];
                r.first_bad_ref = ref[i];
            }
            r.mismatched++;
            continue;
        }
        r.mismatched += out[i] != static_cast<float>(ref[i]);
        const double e = std::fabs(double(out[i]) - ref[i]) / (1.0 + std::fabs(ref[i]));
        if (e > r.max_error) {
            r.max_error = e;
            if (r.non_finite == 0) {
                r.first_bad = at;
                r.first_bad_out = out[i];
                r.first_bad_ref = ref[i];
            }
        }
    }
    return r;
}

std::string position(const Shape &shape, int64_t index) {
    if (index < 0) return "(none)";
    Shape at(shape.size());
    for (size_t i = shape.size(); i-- > 0;) {
        at[i] = index % shape[i];
        index /= shape[i];
    }
    return shape_to_string(at);
}

double tolerance(const Case &c) {
    const Params &p = c.params;
    const double terms =
        double(p.in_channels / p.groups) * double(p.kernel_size[0] * p.kernel_size[1] * p.kernel_size[2]) + 1;
    return 1e-6 + 3.2e-6 * std::sqrt(terms);
}

void Coverage::add(const Case &c, bool integers) {
    const Params &p = c.params;
    const size_t sp = c.input_shape.size() - 3;  // first spatial dim
    bool dil = false, op = false, over = false, gap = false, unit = false;
    for (int a = 0; a < 3; a++) {
        const int64_t span = p.dilation[a] * (p.kernel_size[a] - 1);
        dil |= p.dilation[a] > 1;
        op |= p.output_padding[a] > 0;
        over |= p.padding[a] > span;
        gap |= p.stride[a] > span + 1 && c.input_shape[sp + a] > 1;
        unit |= c.input_shape[sp + a] == 1;
    }
    cases++;
    unbatched += c.input_shape.size() == 4;
    no_bias += !p.bias;
    grouped += p.groups > 1;
    dilated += dil;
    output_padded += op;
    over_padded += over;
    gapped += gap;
    anisotropic += !(p.kernel_size[0] == p.kernel_size[1] && p.kernel_size[1] == p.kernel_size[2]);
    unit_extent += unit;
    integer_data += integers;
}

Coverage &Coverage::operator+=(const Coverage &o) {
    cases += o.cases;
    unbatched += o.unbatched;
    no_bias += o.no_bias;
    grouped += o.grouped;
    dilated += o.dilated;
    output_padded += o.output_padded;
    over_padded += o.over_padded;
    gapped += o.gapped;
    anisotropic += o.anisotropic;
    unit_extent += o.unit_extent;
    integer_data += o.integer_data;
    return *this;
}

void Coverage::check_drawn(bool every_situation) const {
    CHECK(unbatched > 0);
    CHECK(no_bias > 0);
    CHECK(output_padded > 0);
    CHECK(over_padded > 0);
    CHECK(unit_extent > 0);
    CHECK(integer_data > 0);
    if (!every_situation) return;
    CHECK(grouped > 0);
    CHECK(dilated > 0);
    CHECK(gapped > 0);
    CHECK(anisotropic > 0);
}

std::string Coverage::describe() const {
    std::ostringstream s;
    s << cases << " cases: " << unbatched << " unbatched, " << no_bias << " without bias, " << grouped
      << " grouped, " << dilated << " dilated, " << output_padded << " with output_padding, " << over_padded
      << " padded past the kernel span, " << gapped << " with stride gaps, " << anisotropic << " anisotropic, "
      << unit_extent << " with a unit extent, " << integer_data << " on integer data";
    return s.str();
}

// Checks `cond`; on failure the sweep stops (one detailed report, not thousands).
#define SWEEP_CHECK(cond)   \
    do {                    \
        CHECK(cond);        \
        if (!(cond)) return cov; \
    } while (0)

Coverage sweep_kernel(std::mt19937 &rng, const std::string &kernel, Device device, std::optional<CpuIsa> isa,
                      int count, int medium) {
    Coverage cov;
    const std::string where =
        kernel + " on " + to_string(device) + (isa ? std::string(" (") + to_string(*isa) + ")" : std::string());
    const DispatchOptions opts{kernel, isa};
    for (int i = 0; i < count + medium; i++) {
        const CaseSize size = i < count ? CaseSize::small : CaseSize::medium;
        const bool integers = i % 2 == 1;
        Case c;
        try {
            c = random_case(rng, kernel, size);
        } catch (const std::exception &e) {
            FAIL_CHECK(where << ": " << e.what());
            return cov;
        }
        cov.add(c, integers);
        INFO(where << ", case " << i << " on " << (integers ? "integer" : "float") << " data: " << describe(c));

        // The library's shape maths against the formula, on every case.
        SWEEP_CHECK(output_shape(c.params, c.input_shape) == reference::output_shape(c.params, c.input_shape));
        SWEEP_CHECK(choose_kernel(c.params, device, opts).kernel == kernel);

        const Inputs in = make_inputs(rng, c, integers);
        Run r;
        try {
            r = run_fenced(c, in, device, opts);
        } catch (const std::exception &e) {
            FAIL_CHECK("the call threw: " << e.what());
            return cov;
        }
        SWEEP_CHECK(r.choice.kernel == kernel);
        SWEEP_CHECK(r.choice.device == device);
        if (isa) SWEEP_CHECK(r.choice.cpu_isa == isa);

        const Comparison cmp = compare(r.output, reference_output(c, in));
        const Shape out_shape = output_shape(c.params, c.input_shape);
        INFO("output " << shape_to_string(out_shape) << ", worst element " << position(out_shape, cmp.first_bad)
                       << ": got " << cmp.first_bad_out << ", reference " << cmp.first_bad_ref
                       << "; max error " << cmp.max_error << ", tolerance " << tolerance(c) << ", "
                       << cmp.non_finite << " non-finite, " << cmp.mismatched << " inexact of " << cmp.count);
        SWEEP_CHECK(cmp.non_finite == 0);      // every element written
        SWEEP_CHECK(r.guard_damaged == 0);     // nothing written outside the output
        SWEEP_CHECK(!r.inputs_changed);
        if (integers) {
            SWEEP_CHECK(cmp.mismatched == 0);  // small integers: every sum is exact in float32
        } else {
            SWEEP_CHECK(cmp.max_error <= tolerance(c));
        }
        if (i % 8 == 0) {  // run to run: bitwise identical
            const Run again = run_fenced(c, in, device, opts);
            SWEEP_CHECK(again.output.size() == r.output.size());
            SWEEP_CHECK(std::memcmp(again.output.data(), r.output.data(), r.output.size() * sizeof(float)) == 0);
        }
    }
    return cov;
}

#undef SWEEP_CHECK

Params make_params(int64_t in_channels, int64_t out_channels, Triple kernel_size, Triple stride, Triple padding,
                   Triple output_padding, int64_t groups, bool bias, Triple dilation) {
    Params p;
    p.in_channels = in_channels;
    p.out_channels = out_channels;
    p.kernel_size = kernel_size;
    p.stride = stride;
    p.padding = padding;
    p.output_padding = output_padding;
    p.groups = groups;
    p.bias = bias;
    p.dilation = dilation;
    return p;
}

Params one_group_of(Params p) {
    p.in_channels /= p.groups;
    p.out_channels /= p.groups;
    p.groups = 1;
    return p;
}

Params seed_example_params() { return make_params(16, 33, {3, 5, 2}, {2, 1, 1}, {0, 4, 2}); }

std::vector<NamedCase> edge_cases() {
    auto mp = make_params;
    return {
        {"GAN upsampling k4 s2 p1", {mp(8, 16, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, 1, true, {1, 1, 1}), {2, 8, 3, 4, 5}}},
        {"k4 s2 p1 with output_padding 1",
         {mp(8, 16, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 1, true, {1, 1, 1}), {1, 8, 3, 4, 5}}},
        {"k2 s2 with output_padding 1", {mp(3, 9, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 0, 1}, 1, true, {1, 1, 1}), {2, 3, 3, 2, 5}}},
        {"k3 s2 p1 op1 grouped (same-size doubling)",
         {mp(6, 12, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 2, true, {1, 1, 1}), {1, 6, 4, 3, 7}}},
        {"padding past the kernel span crops into the interior",
         {mp(4, 4, {3, 3, 3}, {2, 2, 2}, {3, 4, 5}, {0, 0, 0}, 1, true, {1, 1, 1}), {1, 4, 5, 6, 7}}},
        {"output cropped to a single element",
         {mp(2, 3, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1, true, {1, 1, 1}), {1, 2, 1, 1, 1}}},
        {"output cropped to 1x1x1 with stride 2",
         {mp(2, 8, {2, 2, 2}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 1, true, {1, 1, 1}), {1, 2, 1, 1, 1}}},
        {"stride larger than the kernel: bias-only gaps",
         {mp(3, 5, {2, 1, 2}, {4, 3, 4}, {0, 0, 0}, {0, 0, 0}, 1, true, {1, 1, 1}), {2, 3, 3, 3, 3}}},
        {"gaps without bias stay zero",
         {mp(3, 5, {1, 2, 1}, {3, 4, 2}, {0, 0, 0}, {2, 0, 1}, 1, false, {1, 1, 1}), {1, 3, 3, 2, 4}}},
        {"output_padding allowed by dilation at stride 1",
         {mp(4, 6, {3, 2, 2}, {1, 1, 1}, {0, 1, 0}, {2, 1, 0}, 2, true, {3, 2, 1}), {1, 4, 3, 4, 5}}},
        {"dilation 2 stride 2", {mp(4, 4, {3, 3, 3}, {2, 2, 2}, {2, 1, 0}, {1, 1, 1}, 1, true, {2, 2, 2}), {1, 4, 3, 3, 4}}},
        {"depthwise (groups == channels)",
         {mp(8, 8, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, 8, true, {1, 1, 1}), {2, 8, 3, 3, 3}}},
        {"grouped, more outputs than inputs per group",
         {mp(4, 12, {2, 3, 2}, {1, 2, 2}, {0, 1, 0}, {0, 1, 1}, 2, true, {1, 1, 1}), {1, 4, 3, 3, 5}}},
        {"1x1x1 kernel, stride 1: channel mixing",
         {mp(7, 11, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1, true, {1, 1, 1}), {3, 7, 2, 3, 4}}},
        {"1x1x1 kernel, stride 3: sparse output",
         {mp(3, 2, {1, 1, 1}, {3, 3, 3}, {0, 0, 0}, {2, 1, 0}, 1, true, {1, 1, 1}), {1, 3, 2, 2, 3}}},
        {"unbatched rank-4 input", {mp(4, 8, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 1, true, {1, 1, 1}), {4, 3, 2, 5}}},
        {"unbatched, grouped, padded",
         {mp(6, 9, {3, 1, 2}, {2, 1, 3}, {1, 0, 1}, {1, 0, 2}, 3, true, {1, 1, 1}), {6, 4, 3, 5}}},
        {"extent 1 on every axis", {mp(5, 8, {5, 5, 5}, {4, 4, 4}, {0, 0, 0}, {0, 0, 0}, 1, true, {1, 1, 1}), {2, 5, 1, 1, 1}}},
        {"wide W (vector tails)", {mp(8, 24, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1, true, {1, 1, 1}), {1, 8, 2, 3, 37}}},
        {"many output channels, k2s2", {mp(16, 40, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 1, true, {1, 1, 1}), {1, 16, 3, 3, 9}}},
        // 32 channels fill whole channel tiles on every ISA (the channel schedules' unguarded stores).
        {"whole channel tiles, k2s2", {mp(8, 32, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 1, true, {1, 1, 1}), {2, 8, 2, 3, 9}}},
        {"whole channel tiles, k3 s2 p1 op1",
         {mp(6, 32, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 1, true, {1, 1, 1}), {1, 6, 3, 2, 9}}},
        {"k3 s2 p1 with 17 output channels (a vector and a tail)",
         {mp(5, 17, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 0, 1}, 1, true, {1, 1, 1}), {2, 5, 3, 4, 6}}},
    };
}

void check_run(const Case &c, const Run &r, const std::vector<double> &ref, bool integers) {
    const Comparison cmp = compare(r.output, ref);
    INFO("worst element " << position(output_shape(c.params, c.input_shape), cmp.first_bad) << ": got "
                          << cmp.first_bad_out << ", reference " << cmp.first_bad_ref << " (max error "
                          << cmp.max_error << ")");
    CHECK(cmp.non_finite == 0);
    CHECK(r.guard_damaged == 0);
    CHECK_FALSE(r.inputs_changed);
    if (integers) {
        CHECK(cmp.mismatched == 0);
    } else {
        CHECK(cmp.max_error <= tolerance(c));
    }
}

int check_case_everywhere(const Case &c, Device device, uint32_t seed) {
    std::mt19937 rng(seed);
    int runs = 0;
    std::vector<std::string> kernels{""};  // "" = default dispatch
    for (const std::string &k : kernel_names(device)) {
        if (kernel_supports(k, c.params)) kernels.push_back(k);
    }
    std::vector<std::optional<CpuIsa>> isas;
    if (device == Device::cpu) {
        for (CpuIsa isa : supported_isas()) isas.emplace_back(isa);
    } else {
        isas.emplace_back(std::nullopt);
    }
    for (const bool integers : {false, true}) {
        const Inputs in = make_inputs(rng, c, integers);
        const std::vector<double> ref = reference_output(c, in);
        for (const std::string &kernel : kernels) {
            for (const std::optional<CpuIsa> &isa : isas) {
                INFO((kernel.empty() ? "default dispatch" : kernel)
                     << " on " << to_string(device) << (isa ? std::string(" (") + to_string(*isa) + ")" : "")
                     << ", " << (integers ? "integer" : "float") << " data: " << describe(c));
                Run r;
                try {
                    r = run_fenced(c, in, device, {kernel, isa});
                } catch (const std::exception &e) {
                    FAIL_CHECK("the call threw: " << e.what());
                    continue;
                }
                if (!kernel.empty()) CHECK(r.choice.kernel == kernel);
                check_run(c, r, ref, integers);
                runs++;
            }
        }
    }
    return runs;
}

std::vector<CpuIsa> supported_isas() {
    std::vector<CpuIsa> isas;
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41}) {
        if (cpu_supports(isa)) isas.push_back(isa);
    }
    return isas;
}

uint32_t test_seed(uint32_t base, const std::string &name) {
    if (const char *env = std::getenv("CONVT3D_TEST_SEED"); env && *env) {
        base = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
    }
    return fnv1a(name, fnv1a(std::to_string(base)));
}

int scaled(int n) {
    if (const char *env = std::getenv("CONVT3D_TEST_SCALE"); env && *env) {
        const long s = std::strtol(env, nullptr, 10);
        if (s > 0) return static_cast<int>(n * s);
    }
    return n;
}

std::string verbose_stderr(const std::function<void()> &call) {
    std::fflush(stderr);
    const int saved = dup(fileno(stderr));
    std::FILE *capture = std::tmpfile();
    REQUIRE(capture != nullptr);
    dup2(fileno(capture), fileno(stderr));
    setenv("CONVT3D_VERBOSE", "1", 1);
    // Restore stderr even when the call throws, so that Catch can still report.
    auto restore = [&] {
        unsetenv("CONVT3D_VERBOSE");
        std::fflush(stderr);
        dup2(saved, fileno(stderr));
        close(saved);
    };
    try {
        call();
    } catch (...) {
        restore();
        std::fclose(capture);
        throw;
    }
    restore();
    std::rewind(capture);
    std::string text;
    char line[256];
    while (std::fgets(line, sizeof line, capture)) text += line;
    std::fclose(capture);
    return text;
}

}  // namespace convt3d::testing
