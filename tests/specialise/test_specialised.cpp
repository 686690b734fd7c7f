// A kernel specialised in this build by convt3d_add_specialised_kernel (see CMakeLists.txt
// here) for a layer no built-in variant specialises: a different stride, kernel and dilation
// per axis, and groups 2. Dispatch must take it exactly when every layer parameter matches
// and the CPU runs AVX2, and it must agree with the double-precision reference on random
// inputs of any batch, spatial size, output_padding and bias, writing every output.
#include "test_support.h"

#include <catch2/catch.hpp>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

const char *const kName = "test_spec_layer";

// As in CMakeLists.txt: ConvTranspose3d(6, 10, (3, 2, 4), stride=(1, 2, 3),
// padding=(1, 0, 2), dilation=(1, 2, 1), groups=2).
Params layer() {
    return make_params(6, 10, {3, 2, 4}, {1, 2, 3}, {1, 0, 2}, {0, 0, 0}, 2, true, {1, 2, 1});
}

// The layer on a random input: batch 0-3 (0: unbatched), small extents, random
// output_padding and bias; drawn again until the output is not empty.
Case random_layer_case(std::mt19937 &rng) {
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (;;) {
        Case c{layer(), {}};
        Params &p = c.params;
        p.bias = uniform(0, 2) > 0;
        for (int a = 0; a < 3; a++) {
            p.output_padding[a] = uniform(0, static_cast<int>(std::max(p.stride[a], p.dilation[a])) - 1);
        }
        c.input_shape = {p.in_channels, uniform(1, 5), uniform(1, 7), uniform(1, 13)};
        if (const int batch = uniform(0, 3); batch > 0) c.input_shape.insert(c.input_shape.begin(), batch);
        try {
            output_shape(p, c.input_shape);
            return c;
        } catch (const Error &) {
        }
    }
}

int fake_kernel(halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, int, int, int, int, int, int, int, int, int,
                int, halide_buffer_t *) {
    return -1;
}

}  // namespace

TEST_CASE("a specialised kernel is chosen exactly for its layer", "[cpu][specialised]") {
    const Params p = layer();
    if (!cpu_supports(CpuIsa::avx2)) {
        // Compiled for AVX2 only: this CPU must not list or run it.
        WARN("this CPU lacks AVX2: only the fallback to the built-in kernels is checked");
        CHECK(choose_kernel(p, Device::cpu).kernel == "generic");
        CHECK(kernel_names(Device::cpu).front() != kName);
        return;
    }
    CHECK(kernel_names(Device::cpu).front() == kName);
    CHECK(kernel_supports(kName, p));
    const KernelChoice choice = choose_kernel(p, Device::cpu);
    CHECK(choice.kernel == kName);
    CHECK(choice.cpu_isa == CpuIsa::avx2);
    CHECK(choice.describe() == std::string(kName) + " on cpu (avx2)");
    CHECK(choose_kernel(p, Device::cpu, {kName, CpuIsa::avx2}).kernel == kName);

    // Forcing another kernel or another ISA falls back to the built-in table.
    CHECK(choose_kernel(p, Device::cpu, {"generic", std::nullopt}).kernel == "generic");
    const KernelChoice sse = choose_kernel(p, Device::cpu, {"", CpuIsa::sse41});
    CHECK(sse.kernel == "generic");
    CHECK(sse.cpu_isa == CpuIsa::sse41);
    CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {kName, CpuIsa::sse41}), Error);
    CHECK_THROWS_AS(choose_kernel(p, Device::cuda, {kName, std::nullopt}), Error);

    // Free: output_padding and bias. Every layer parameter that differs: a built-in kernel.
    Params free = p;
    free.output_padding = {0, 1, 2};
    free.bias = false;
    CHECK(choose_kernel(free, Device::cpu).kernel == kName);
    std::vector<Params> others(7, p);
    others[0].in_channels = 8;
    others[1].out_channels = 12;
    others[2].kernel_size[2] = 3;
    others[3].stride[0] = 2;
    others[4].padding[1] = 1;
    others[5].dilation[2] = 2;
    others[6].groups = 1;
    for (const Params &q : others) {
        INFO(describe(Case{q, {q.in_channels, 3, 3, 3}}));
        CHECK(choose_kernel(q, Device::cpu).kernel != kName);
        CHECK_FALSE(kernel_supports(kName, q));
        CHECK_THROWS_AS(choose_kernel(q, Device::cpu, {kName, std::nullopt}), Error);
    }
}

TEST_CASE("a specialised kernel matches the reference on random inputs", "[cpu][specialised]") {
    std::mt19937 rng(test_seed(5150, kName));
    const bool has_avx2 = cpu_supports(CpuIsa::avx2);
    const int count = scaled(40);
    for (int i = 0; i < count; i++) {
        const Case c = random_layer_case(rng);
        const bool integers = i % 2 == 1;
        const Inputs in = make_inputs(rng, c, integers);
        const std::vector<double> ref = reference_output(c, in);
        // Default dispatch (the specialised kernel), then the fallback on a forced ISA.
        for (const std::optional<CpuIsa> isa : {std::optional<CpuIsa>{}, std::optional<CpuIsa>{CpuIsa::sse41}}) {
            INFO("case " << i << (isa ? " forced to sse41" : "") << " on " << (integers ? "integer" : "float")
                         << " data: " << describe(c));
            const Run r = run_fenced(c, in, Device::cpu, {"", isa});
            CHECK(r.choice.kernel == (has_avx2 && !isa ? kName : "generic"));
            check_run(c, r, ref, integers);
        }
    }
}

TEST_CASE("register_kernel refuses bad registrations", "[cpu][specialised]") {
    SpecialisedKernel k;
    k.name = "another_layer";
    k.layer = make_params(6, 10, {3, 2, 4}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 2);
    k.function = &fake_kernel;
    SpecialisedKernel bad = k;
    bad.name = "generic";  // a built-in kernel's name
    CHECK_THROWS_AS(register_kernel(bad), Error);
    bad = k;
    bad.name = "";
    CHECK_THROWS_AS(register_kernel(bad), Error);
    bad = k;
    bad.function = nullptr;
    CHECK_THROWS_AS(register_kernel(bad), Error);
    bad = k;
    bad.layer.groups = 4;  // does not divide the channels
    CHECK_THROWS_AS(register_kernel(bad), Error);
    bad = k;
    bad.name = kName;  // registered for another layer
    CHECK_THROWS_AS(register_kernel(bad), Error);
    bad.layer = layer();
    bad.layer.output_padding = {0, 1, 1};  // not part of the layer: the same one,
    bad.cpu_isa = CpuIsa::avx2;            // already registered for avx2
    CHECK_THROWS_AS(register_kernel(bad), Error);
    // Nothing of the above was registered.
    for (const std::string &name : kernel_names(Device::cpu)) CHECK(name != "another_layer");
}
