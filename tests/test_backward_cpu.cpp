// The CPU backward kernels (grad_input, grad_weight, grad_bias): against the double-precision
// scatter reference on random parameters with every CPU ISA forced in turn (gradients
// NaN-poisoned and fenced), the adjoint identities in double, finite differences of the
// library's own forward pass, run-to-run bitwise identity, the module and Tensor forms,
// and dispatch switches.
#include "backward_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

using namespace convt3d;
using namespace convt3d::testing;

// The Halide runtime inside libconvt3d.a: its thread pool size (returns the old one).
extern "C" int halide_set_num_threads(int n);

namespace {

constexpr int kSmallCasesPerIsa = 240;
constexpr int kMediumCasesPerIsa = 8;

double dot(const std::vector<double> &a, const std::vector<float> &b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * double(b[i]);
    return s;
}

double dot(const std::vector<float> &a, const std::vector<float> &b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += double(a[i]) * double(b[i]);
    return s;
}

std::vector<float> absolute(std::vector<float> v) {
    for (float &x : v) x = std::fabs(x);
    return v;
}

CpuIsa isa_for(int i) {
    const auto isas = supported_isas();
    return isas[static_cast<size_t>(i) % isas.size()];
}

// Whether grad_input or grad_weight has a kernel of this name compiled for the ISA.
bool compiled_for(const std::string &kernel, CpuIsa isa) {
    for (const char *g : {"grad_input", "grad_weight"}) {
        const auto names = backward_kernel_names(g, Device::cpu, isa);
        if (std::find(names.begin(), names.end(), kernel) != names.end()) return true;
    }
    return false;
}

bool lists(const std::vector<std::string> &names, const char *kernel) {
    return std::find(names.begin(), names.end(), kernel) != names.end();
}

// The kernel that dispatch runs for one gradient ("grad_input" or "grad_weight") of p's
// layer, on random data.
KernelChoice dispatched(std::mt19937 &rng, const Params &p, const std::string &gradient, const DispatchOptions &opts) {
    const Shape in_shape{1, p.in_channels, 3, 4, 5}, out_shape = output_shape(p, in_shape);
    const Tensor x = Tensor::from_vector(random_values(rng, numel(in_shape)), in_shape);
    const Tensor w = Tensor::from_vector(random_values(rng, numel(weight_shape(p))), weight_shape(p));
    const Tensor g = Tensor::from_vector(random_values(rng, numel(out_shape)), out_shape);
    const bool input = gradient == "grad_input";
    Tensor grad(input ? in_shape : weight_shape(p));
    const TensorView grad_v = grad.view();
    const BackwardChoice c = conv_transpose3d_backward(g.view(), x.view(), w.view(), input ? &grad_v : nullptr,
                                                       input ? nullptr : &grad_v, nullptr, p, opts);
    return *(input ? c.grad_input : c.grad_weight);
}

// A gradient kernel built for AVX-512 alone, for p's layer: listed for AVX-512 and for no
// other ISA, nor for the other gradient; on another ISA dispatch passes it by for `fallback`
// and refuses it forced, naming the ISA; on AVX-512 (where this CPU has it) dispatch picks
// it. Returns whether the CPU had AVX-512 for that last check.
bool check_built_for_avx512_alone(std::mt19937 &rng, const Params &p, const std::string &gradient,
                                  const char *kernel, const char *fallback) {
    INFO(gradient << " kernel " << kernel);
    const std::string other_gradient = gradient == "grad_input" ? "grad_weight" : "grad_input";
    CHECK(lists(backward_kernel_names(gradient, Device::cpu, CpuIsa::avx512), kernel));
    CHECK_FALSE(lists(backward_kernel_names(other_gradient, Device::cpu), kernel));
    for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::sse41}) {
        CHECK_FALSE(lists(backward_kernel_names(gradient, Device::cpu, isa), kernel));
        CHECK(lists(backward_kernel_names(gradient, Device::cpu, isa), fallback));
        CHECK(dispatched(rng, p, gradient, {"", isa}).kernel == fallback);
        CHECK_THROWS_WITH(dispatched(rng, p, gradient, {kernel, isa}),
                          Catch::Contains(std::string("kernel='") + kernel + "' is not a compiled cpu (" +
                                          to_string(isa) + ") kernel"));
    }
    if (!cpu_supports(CpuIsa::avx512)) {
        WARN("SKIPPED: " << kernel << "'s own dispatch on AVX-512 (this CPU lacks it)");
        return false;
    }
    CHECK(dispatched(rng, p, gradient, {"", CpuIsa::avx512}).describe() == std::string(kernel) + " on cpu (avx512)");
    return true;
}

}  // namespace

TEST_CASE("backward on every CPU ISA matches the reference on random parameters", "[cpu][backward]") {
    const auto isas = supported_isas();
    REQUIRE_FALSE(isas.empty());
    for (const char *g : {"grad_input", "grad_weight", "grad_bias"}) {
        const auto names = backward_kernel_names(g, Device::cpu);
        REQUIRE_FALSE(names.empty());
        CHECK(names.back() == "generic");
    }
    CHECK(backward_kernel_names("grad_nothing", Device::cpu).empty());

    // Default dispatch, then each kernel of grad_input and grad_weight forced in turn.
    std::vector<std::string> kernels{""};
    for (const char *g : {"grad_input", "grad_weight"}) {
        for (const std::string &k : backward_kernel_names(g, Device::cpu)) {
            if (std::find(kernels.begin(), kernels.end(), k) == kernels.end()) kernels.push_back(k);
        }
    }
    REQUIRE(kernels.size() >= 7);  // "", "g1c16", "g1", "dw", "generic", "g1co128", "cv"
    const int count = scaled(kSmallCasesPerIsa), medium = scaled(kMediumCasesPerIsa);
    Coverage total;
    for (CpuIsa isa : isas) {
        for (const std::string &kernel : kernels) {
            if (!kernel.empty() && !compiled_for(kernel, isa)) continue;  // built for other ISAs alone
            std::mt19937 rng(test_seed(20261125, "backward/" + kernel + "/" + to_string(isa)));
            const Coverage cov = sweep_backward(rng, Device::cpu, {kernel, isa}, count / 2, medium / 2);
            CHECK(cov.cases == count / 2 + medium / 2);  // a sweep that stopped early has reported why
            total += cov;
        }
    }
    INFO(total.describe());
    total.check_drawn(true);
    WARN("random CPU backward cases checked: " << total.describe());
}

TEST_CASE("adjoint identities <convT(x,w), g> = <x, grad_input> = <w, grad_weight> hold in double",
          "[cpu][backward][adjoint]") {
    std::mt19937 rng(test_seed(31, "adjoint"));
    const int cases = scaled(240);
    Coverage cov;
    for (int i = 0; i < cases; i++) {
        const Case c = random_case(rng, "generic", i % 12 == 0 ? CaseSize::medium : CaseSize::small);
        cov.add(c, false);
        const Params &p = c.params;
        const BackwardInputs in = make_backward_inputs(rng, c, false);
        const std::vector<float> x = in.forward.x.to_vector(), w = in.forward.w.to_vector();
        const std::vector<float> &g = in.grad_output;
        const BackwardRun r = run_backward_fenced(c, in, Device::cpu, {"", isa_for(i)});
        INFO("case " << i << " (" << to_string(isa_for(i)) << "): " << describe(c));

        const double lhs = dot(reference::forward(p, c.input_shape, x, w, {}), g);
        // Sum of the absolute values of every product in the identity: the rounding scale.
        const double scale = dot(reference::forward(p, c.input_shape, absolute(x), absolute(w), {}), absolute(g));
        const TermCounts t = term_counts(c);
        const double rel = 8 * 6e-8;
        const double rhs_x = dot(x, r.grad_input), rhs_w = dot(w, r.grad_weight);
        INFO("<convT(x,w), g> = " << lhs << ", <x, grad_input> = " << rhs_x << ", <w, grad_weight> = " << rhs_w
                                  << ", scale " << scale);
        CHECK(std::fabs(lhs - rhs_x) <= rel * std::sqrt(t.grad_input + 1) * scale + 1e-12);
        CHECK(std::fabs(lhs - rhs_w) <= rel * std::sqrt(t.grad_weight + 1) * scale + 1e-12);
        if (p.bias) {  // the bias's share of the output: <convT(x,w,b) - convT(x,w), g> = <b, grad_bias>
            const std::vector<double> with_bias = reference::forward(p, c.input_shape, x, w, in.forward.bias_values);
            const double bias_share = dot(with_bias, g) - lhs;
            double abs_bias = 0;
            for (size_t j = 0; j < g.size(); j++) abs_bias += std::fabs(g[j]);
            const double rhs_b = dot(in.forward.bias_values, r.grad_bias);
            INFO("<bias share, g> = " << bias_share << ", <b, grad_bias> = " << rhs_b);
            CHECK(std::fabs(bias_share - rhs_b) <= rel * std::sqrt(t.grad_bias + 1) * (abs_bias + scale) + 1e-12);
        }
    }
    INFO(cov.describe());
    CHECK(cov.grouped > 0);
    CHECK(cov.dilated > 0);
    CHECK(cov.unbatched > 0);
    CHECK(cov.gapped > 0);
    WARN("adjoint identities checked on " << cov.describe());
}

TEST_CASE("finite differences of the library's forward pass agree with the gradients", "[cpu][backward][fd]") {
    // L(x, w, b) = <conv_transpose3d(x, w, b), g> through the library's forward kernels.
    // L is linear in each argument, so a central difference has no truncation error: on
    // small-integer data with step 1 everything is exact in float32 and the gradients must
    // match exactly; on float data the bound is the forward pass's rounding over the step.
    std::mt19937 rng(test_seed(47, "finite differences"));
    int checked = 0;
    for (int i = 0; i < scaled(24); i++) {
        const bool integers = i % 2 == 0;
        Case c = random_case(rng, "generic");
        const Params &p = c.params;
        BackwardInputs in = make_backward_inputs(rng, c, integers);
        const Gradients grads =
            conv_transpose3d_backward(Tensor::from_vector(in.grad_output, output_shape(p, c.input_shape)), in.forward.x,
                                      in.forward.w, p, {}, {"", isa_for(i)});
        const std::vector<float> &g = in.grad_output;
        auto loss = [&](const Tensor &x, const Tensor &w, const Tensor &b) {
            return dot(conv_transpose3d(x, w, p.bias ? &b : nullptr, p).to_vector(), g);
        };
        const double scale =
            dot(reference::forward(p, c.input_shape, absolute(in.forward.x.to_vector()),
                                   absolute(in.forward.w.to_vector()), absolute(in.forward.bias_values)),
                absolute(g));
        const double h = integers ? 1.0 : 0.5;
        const TermCounts t = term_counts(c);
        const double tol = integers ? 0.0 : 8 * 6e-8 * std::sqrt(t.grad_input + 2) * 2 * scale / h;
        INFO("case " << i << " on " << (integers ? "integer" : "float") << " data: " << describe(c));

        // Perturbs up to 12 coordinates of one argument; `which` 0 = x, 1 = w, 2 = b.
        auto probe = [&](int which, const Tensor &grad) {
            Tensor *arg = which == 0 ? &in.forward.x : which == 1 ? &in.forward.w : &in.forward.b;
            const std::vector<float> gv = grad.to_vector();
            for (int k = 0; k < 12; k++) {
                const auto j = static_cast<size_t>(std::uniform_int_distribution<int64_t>(0, arg->numel() - 1)(rng));
                const float saved = arg->data()[j];
                arg->data()[j] = saved + float(h);
                const double up = loss(in.forward.x, in.forward.w, in.forward.b);
                arg->data()[j] = saved - float(h);
                const double down = loss(in.forward.x, in.forward.w, in.forward.b);
                arg->data()[j] = saved;
                const double fd = (up - down) / (2 * h);
                INFO((which == 0 ? "input" : which == 1 ? "weight" : "bias") << " element " << j << ": finite difference "
                                                                              << fd << ", gradient " << gv[j]);
                CHECK(std::fabs(fd - gv[j]) <= tol);
                checked++;
            }
        };
        probe(0, grads.grad_input);
        probe(1, grads.grad_weight);
        if (p.bias) probe(2, grads.grad_bias);
    }
    CHECK(checked >= 24 * 24);
}

TEST_CASE("backward: hand-picked edge cases on every ISA", "[cpu][backward]") {
    uint32_t seed = 300;
    int runs = 0;
    for (const NamedCase &n : edge_cases()) {
        for (const bool integers : {false, true}) {
            std::mt19937 rng(seed++);
            const BackwardInputs in = make_backward_inputs(rng, n.c, integers);
            for (CpuIsa isa : supported_isas()) {
                INFO(n.what << " (" << to_string(isa) << ", " << (integers ? "integer" : "float") << " data): "
                            << describe(n.c));
                CHECK(check_backward_case(n.c, in, Device::cpu, {"", isa}));
                runs++;
            }
        }
    }
    CHECK(runs == static_cast<int>(edge_cases().size() * 2 * supported_isas().size()));
}

TEST_CASE("backward: realistic layer shapes, and bitwise identical results run to run", "[cpu][backward]") {
    const std::vector<NamedCase> layers = {
        {"GAN generator block k4 s2 p1", {make_params(16, 32, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}), {2, 16, 4, 6, 10}}},
        {"U-Net decoder k2 s2", {make_params(32, 16, {2, 2, 2}, {2, 2, 2}), {1, 32, 4, 8, 12}}},
        {"the seed example's layer on a smaller input",
         {seed_example_params(), {2, 16, 4, 9, 11}}},
    };
    uint32_t seed = 950;
    for (const NamedCase &n : layers) {
        std::mt19937 rng(seed++);
        const BackwardInputs in = make_backward_inputs(rng, n.c, false);
        for (CpuIsa isa : supported_isas()) {
            INFO(n.what << " (" << to_string(isa) << ")");
            CHECK(check_backward_case(n.c, in, Device::cpu, {"", isa}));
            const BackwardRun first = run_backward_fenced(n.c, in, Device::cpu, {"", isa});
            for (int k = 0; k < 3; k++) {
                const BackwardRun again = run_backward_fenced(n.c, in, Device::cpu, {"", isa});
                CHECK(bitwise_equal(again.grad_input, first.grad_input));
                CHECK(bitwise_equal(again.grad_weight, first.grad_weight));
                CHECK(bitwise_equal(again.grad_bias, first.grad_bias));
            }
        }
    }
}

// g1's grad_input blocked by z tap, on weights above small_weights (1.1 MB, gan_k4s2p1's kind
// of layer) and below it (384 KB, whose tasks are z planes): where rows are half its register
// tile wide and the batch is even, the tile covers two batch items; an odd batch or other
// widths take the tile of one. Widths 2 and 4 are half of the 4- and 8-position tiles of the
// avx2 and avx512 schedules.
TEST_CASE("backward: g1's grad_input on GAN-like layers, rows half a tile wide, batch items in pairs",
          "[cpu][backward]") {
    uint32_t seed = 1200;
    for (const int64_t in_channels : {48, 32}) {
        const Params p = make_params(in_channels, 2 * in_channels, {4, 4, 4}, {2, 2, 2}, {1, 1, 1});
        REQUIRE(backward_kernel_supports("grad_input", "g1", p));
        for (const Shape &spatial : std::vector<Shape>{{2, 3, 4, 4}, {3, 2, 3, 4}, {4, 2, 3, 2}, {2, 2, 2, 5}}) {
            const Case c{p, {spatial[0], in_channels, spatial[1], spatial[2], spatial[3]}};
            for (const bool integers : {false, true}) {
                std::mt19937 rng(seed++);
                const BackwardInputs in = make_backward_inputs(rng, c, integers);
                for (CpuIsa isa : supported_isas()) {
                    INFO(describe(c) << " (" << to_string(isa) << (integers ? ", integer data)" : ")"));
                    CHECK(check_backward_case(c, in, Device::cpu, {"g1", isa}));
                }
            }
        }
    }
}

// The channel grad_weight kernel switches, at run time, to its formulation over input
// channels where they are one vector tile (8 on sse41, 16 on avx2) and the layer upsamples or
// has output channels that are no multiple of the tile (grad_weight_over_input_where):
// random layers of 8 or 16 input channels on every ISA, most of them such layers.
TEST_CASE("backward: g1's grad_weight over input channels, on random layers of one input tile", "[cpu][backward]") {
    std::mt19937 rng(test_seed(20261201, "backward/over_input"));
    const auto one_tile_of_in_channels = [](const Params &p) {
        return (p.in_channels == 8 || p.in_channels == 16) && backward_kernel_supports("grad_weight", "g1", p);
    };
    int checked = 0, odd_out_channels = 0;
    std::set<int64_t> in_channels;
    for (int i = 0; i < scaled(32); i++) {
        const Case c = random_case(rng, "g1", one_tile_of_in_channels, CaseSize::medium);
        if (!upsamples_or_partial_tile(c, 16)) continue;
        INFO("case " << i << ": " << describe(c));
        const BackwardInputs in = make_backward_inputs(rng, c, i % 2 == 1);
        for (CpuIsa isa : supported_isas()) {
            INFO(to_string(isa));
            REQUIRE(check_backward_case(c, in, Device::cpu, {"g1", isa}));
        }
        checked++;
        in_channels.insert(c.params.in_channels);
        if (c.params.out_channels % 16 != 0) odd_out_channels++;
    }
    CHECK(checked >= scaled(32) / 3);
    CHECK(in_channels.size() == 2);
    CHECK(odd_out_channels > 0);
}

TEST_CASE("backward computes only the requested gradients", "[cpu][backward]") {
    std::mt19937 rng(test_seed(5, "subsets"));
    const Case c = random_case(rng, "generic");
    Case with_bias = c;
    with_bias.params.bias = true;
    const BackwardInputs in = make_backward_inputs(rng, with_bias, false);
    const BackwardRun all = run_backward_fenced(with_bias, in, Device::cpu, {});
    for (int mask = 1; mask < 8; mask++) {
        const GradientRequest which{(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0};
        INFO("mask " << mask << ": " << describe(with_bias));
        const BackwardRun r = run_backward_fenced(with_bias, in, Device::cpu, {}, which);
        CHECK(r.choice.grad_input.has_value() == which.input);
        CHECK(r.choice.grad_weight.has_value() == which.weight);
        CHECK(r.choice.grad_bias.has_value() == which.bias);
        CHECK(r.guard_damaged == 0);
        if (which.input) CHECK(bitwise_equal(r.grad_input, all.grad_input));
        if (which.weight) CHECK(bitwise_equal(r.grad_weight, all.grad_weight));
        if (which.bias) CHECK(bitwise_equal(r.grad_bias, all.grad_bias));
    }
}

TEST_CASE("ConvTranspose3d::backward and the Tensor form", "[cpu][backward][module]") {
    std::mt19937 rng(test_seed(8, "module backward"));
    for (const bool bias : {true, false}) {
        const Params p = make_params(6, 9, {3, 2, 3}, {2, 1, 2}, {1, 0, 1}, {1, 0, 0}, 3, bias, {1, 2, 1});
        ConvTranspose3d layer(p, 11);
        for (const Shape &in_shape : {Shape{2, 6, 3, 4, 5}, Shape{6, 3, 4, 5}}) {
            INFO("bias " << bias << ", input " << shape_to_string(in_shape));
            const Tensor x = Tensor::from_vector(random_values(rng, numel(in_shape)), in_shape);
            const Shape out_shape = layer.output_shape(in_shape);
            const std::vector<float> g = random_values(rng, numel(out_shape));
            const Gradients grads = layer.backward(x, Tensor::from_vector(g, out_shape));
            REQUIRE(grads.grad_input.defined());
            REQUIRE(grads.grad_weight.defined());
            CHECK(grads.grad_bias.defined() == bias);
            CHECK(grads.grad_input.shape() == in_shape);
            CHECK(grads.grad_weight.shape() == weight_shape(p));
            const reference::Gradients ref =
                reference::backward(p, in_shape, x.to_vector(), layer.weight().to_vector(), g);
            const Case c{p, in_shape};
            CHECK(compare(grads.grad_input.to_vector(), ref.grad_input).max_error <= tolerance(c));
            CHECK(compare(grads.grad_weight.to_vector(), ref.grad_weight).max_error <= 1e-4);
            if (bias) {
                CHECK(grads.grad_bias.shape() == Shape{9});
                CHECK(compare(grads.grad_bias.to_vector(), ref.grad_bias).max_error <= 1e-4);
            }
            const Gradients only_weight = layer.backward(x, Tensor::from_vector(g, out_shape), {false, true, false});
            CHECK_FALSE(only_weight.grad_input.defined());
            CHECK_FALSE(only_weight.grad_bias.defined());
            CHECK(bitwise_equal(only_weight.grad_weight.to_vector(), grads.grad_weight.to_vector()));
        }
    }
}

TEST_CASE("backward: CONVT3D_CPU_ISA forces a CPU variant and CONVT3D_VERBOSE names each kernel",
          "[cpu][backward][dispatch]") {
    const Params p = make_params(2, 4, {2, 2, 2}, {2, 2, 2});
    ConvTranspose3d layer(p, 1);
    Tensor x(Shape{1, 2, 2, 2, 2});
    x.fill(1.0f);
    Tensor g(layer.output_shape(x.shape()));
    g.fill(0.5f);

    setenv("CONVT3D_CPU_ISA", "sse41", 1);
    const std::string text = verbose_stderr([&] { layer.backward(x, g); });
    INFO("stderr: " << text);
    CHECK(text.find("convt3d: grad_input kernel generic on cpu (sse41)") != std::string::npos);
    CHECK(text.find("convt3d: grad_weight kernel generic on cpu (sse41)") != std::string::npos);
    CHECK(text.find("convt3d: grad_bias kernel generic on cpu (sse41)") != std::string::npos);

    setenv("CONVT3D_CPU_ISA", "avx9", 1);
    CHECK_THROWS_AS(layer.backward(x, g), Error);
    unsetenv("CONVT3D_CPU_ISA");
    // Every gradient of a constant grad_output: each bias gradient is 0.5 * the output positions.
    const Gradients grads = layer.backward(x, g);
    for (float v : grads.grad_bias.to_vector()) CHECK(v == 0.5f * 4 * 4 * 4);
}

TEST_CASE("backward dispatch: the channel-vector kernels where they apply, generic otherwise",
          "[cpu][backward][dispatch]") {
    Params p = make_params(16, 32, {3, 3, 3}, {2, 2, 2}, {1, 1, 1});
    CHECK(backward_kernel_supports("grad_input", "g1", p));
    CHECK(backward_kernel_supports("grad_weight", "g1", p));
    CHECK(backward_kernel_supports("grad_weight", "cv", p));
    CHECK_FALSE(backward_kernel_supports("grad_bias", "g1", p));
    CHECK(backward_kernel_supports("grad_bias", "generic", p));
    CHECK_FALSE(backward_kernel_supports("grad_nothing", "generic", p));
    std::mt19937 rng(4);
    const Shape in_shape{1, 16, 3, 4, 5};
    const Tensor x = Tensor::from_vector(random_values(rng, numel(in_shape)), in_shape);
    const Tensor w = Tensor::from_vector(random_values(rng, numel(weight_shape(p))), weight_shape(p));
    const Shape out_shape = output_shape(p, in_shape);
    const Tensor g = Tensor::from_vector(random_values(rng, numel(out_shape)), out_shape);
    Tensor gi(in_shape), gw(weight_shape(p)), gb(Shape{32});
    const TensorView gi_v = gi.view(), gw_v = gw.view(), gb_v = gb.view();
    BackwardChoice c = conv_transpose3d_backward(g.view(), x.view(), w.view(), &gi_v, &gw_v, &gb_v, p);
    CHECK(c.grad_input->kernel == (c.grad_input->cpu_isa == CpuIsa::avx512 ? "g1c16" : "g1"));
    CHECK(c.grad_weight->kernel == "g1");
    CHECK(c.grad_bias->kernel == "generic");
    c = conv_transpose3d_backward(g.view(), x.view(), w.view(), &gi_v, &gw_v, &gb_v, p, {"generic", std::nullopt});
    CHECK(c.grad_input->kernel == "generic");
    CHECK(c.grad_weight->kernel == "generic");
    p.in_channels = 4;  // too few input channels for grad_input's channel vectors
    CHECK_FALSE(backward_kernel_supports("grad_input", "g1", p));
    CHECK(backward_kernel_supports("grad_weight", "g1", p));
    p.in_channels = 16;
    p.groups = 2;  // g1 needs groups == 1; cv needs 8 output channels per group
    CHECK_FALSE(backward_kernel_supports("grad_input", "g1", p));
    CHECK_FALSE(backward_kernel_supports("grad_weight", "g1", p));
    CHECK(backward_kernel_supports("grad_weight", "cv", p));
    p.groups = 1;
    p.out_channels = 4;  // too few output channels for grad_weight's channel vectors
    CHECK_FALSE(backward_kernel_supports("grad_weight", "g1", p));
    CHECK_FALSE(backward_kernel_supports("grad_weight", "cv", p));
    p.out_channels = 32;
    p.groups = 8;
    CHECK_FALSE(backward_kernel_supports("grad_weight", "cv", p));
    CHECK_FALSE(backward_kernel_supports("grad_input", "dw", p));  // 2 input channels per group
    p.groups = 16;  // one input channel per group: depthwise, two outputs per group
    CHECK(backward_kernel_supports("grad_input", "dw", p));
    CHECK(backward_kernel_supports("grad_weight", "dw", p));
    CHECK_FALSE(backward_kernel_supports("grad_bias", "dw", p));
    const Tensor w_dw = Tensor::from_vector(random_values(rng, numel(weight_shape(p))), weight_shape(p));
    Tensor gw_dw(weight_shape(p));
    const TensorView gw_dw_v = gw_dw.view();
    c = conv_transpose3d_backward(g.view(), x.view(), w_dw.view(), &gi_v, &gw_dw_v, &gb_v, p);
    CHECK(c.grad_input->kernel == "dw");
    CHECK(c.grad_weight->kernel == "dw");
    CHECK(c.grad_bias->kernel == "generic");
}

TEST_CASE("backward dispatch: grad_input's g1c16 is built for AVX-512 alone, for at most 16 input channels",
          "[cpu][backward][dispatch]") {
    Params p = make_params(16, 24, {3, 3, 3}, {2, 2, 2}, {1, 1, 1});
    CHECK(backward_kernel_supports("grad_input", "g1c16", p));
    p.in_channels = 8;
    CHECK(backward_kernel_supports("grad_input", "g1c16", p));
    p.in_channels = 17;  // more than one AVX-512 vector: g1's 32-channel tile
    CHECK_FALSE(backward_kernel_supports("grad_input", "g1c16", p));
    CHECK(backward_kernel_supports("grad_input", "g1", p));
    p.in_channels = 16;
    p.groups = 2;
    CHECK_FALSE(backward_kernel_supports("grad_input", "g1c16", p));
    p.groups = 1;
    CHECK(lists(backward_kernel_names("grad_input", Device::cpu), "g1c16"));

    std::mt19937 rng(test_seed(5, "g1c16 dispatch"));
    if (!check_built_for_avx512_alone(rng, p, "grad_input", "g1c16", "g1")) return;
    p.in_channels = 32;
    CHECK(dispatched(rng, p, "grad_input", {"", CpuIsa::avx512}).kernel == "g1");
}

TEST_CASE("backward dispatch: grad_weight's g1co128 is built for AVX-512 alone, for at least 128 output channels",
          "[cpu][backward][dispatch]") {
    Params p = make_params(8, 128, {2, 2, 2}, {2, 2, 2}, {0, 0, 0});
    CHECK(backward_kernel_supports("grad_weight", "g1co128", p));
    p.out_channels = 127;
    CHECK_FALSE(backward_kernel_supports("grad_weight", "g1co128", p));
    CHECK(backward_kernel_supports("grad_weight", "g1", p));
    p.out_channels = 256;
    p.groups = 2;  // 128 output channels per group, but g1 needs groups == 1
    CHECK_FALSE(backward_kernel_supports("grad_weight", "g1co128", p));
    p.groups = 1;
    p.out_channels = 128;

    std::mt19937 rng(test_seed(6, "g1co128 dispatch"));
    if (!check_built_for_avx512_alone(rng, p, "grad_weight", "g1co128", "g1")) return;
    p.out_channels = 64;
    CHECK(dispatched(rng, p, "grad_weight", {"", CpuIsa::avx512}).kernel == "g1");
}

TEST_CASE("backward results do not depend on the number of threads", "[cpu][backward]") {
    std::mt19937 rng(test_seed(12, "threads"));
    for (int i = 0; i < 6; i++) {
        const std::string kernel = i % 3 == 0 ? "" : i % 3 == 1 ? "generic" : "cv";
        const Case c = random_backward_case(rng, kernel, CaseSize::medium);
        const BackwardInputs in = make_backward_inputs(rng, c, false);
        INFO(describe(c) << ", kernel '" << kernel << "'");
        const int before = halide_set_num_threads(1);
        const BackwardRun one = run_backward_fenced(c, in, Device::cpu, {kernel, std::nullopt});
        halide_set_num_threads(5);
        const BackwardRun five = run_backward_fenced(c, in, Device::cpu, {kernel, std::nullopt});
        halide_set_num_threads(before);
        CHECK(bitwise_equal(one.grad_input, five.grad_input));
        CHECK(bitwise_equal(one.grad_weight, five.grad_weight));
        CHECK(bitwise_equal(one.grad_bias, five.grad_bias));
    }
}
