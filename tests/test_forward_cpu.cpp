// Every CPU kernel variant, on every ISA this CPU runs, against the reference on random
// parameters, with the output poisoned by NaN first.
#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

constexpr int kCasesPerKernelAndIsa = 150;

std::vector<CpuIsa> supported_isas() {
    std::vector<CpuIsa> isas;
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41}) {
        if (cpu_supports(isa)) isas.push_back(isa);
    }
    return isas;
}

}  // namespace

TEST_CASE("every CPU kernel on every ISA matches the reference on random parameters", "[cpu][forward]") {
    const auto isas = supported_isas();
    REQUIRE_FALSE(isas.empty());
    WARN("CPU ISAs tested: " << isas.size() << " (best: " << to_string(best_cpu_isa()) << ")");
    std::mt19937 rng(20261124);
    int cases = 0;
    for (const std::string &kernel : kernel_names(Device::cpu)) {
        for (CpuIsa isa : isas) {
            for (int i = 0; i < kCasesPerKernelAndIsa; i++) {
                const Case c = random_case(rng, kernel);
                INFO(kernel << " on " << to_string(isa) << ": " << describe(c));
                const Comparison r = run_and_compare(rng, c, Device::cpu, {kernel, isa});
                REQUIRE(r.non_finite == 0);
                REQUIRE(r.max_error <= tolerance(c));
                cases++;
            }
        }
    }
    REQUIRE(cases >= 5 * kCasesPerKernelAndIsa);
}

TEST_CASE("default dispatch picks the specialised kernel when its preconditions hold", "[cpu][dispatch]") {
    Params p;
    p.in_channels = 4;
    p.out_channels = 6;
    p.kernel_size = {2, 2, 2};
    p.stride = {2, 2, 2};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k2s2");
    p.kernel_size = {3, 3, 3};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k3s2");
    p.dilation = {2, 2, 2};
    CHECK(choose_kernel(p, Device::cpu).kernel == "generic");
    p.stride = {1, 1, 1};
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1");
    CHECK(kernel_names(Device::cpu).back() == "generic");
    CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {"k2s2", std::nullopt}), Error);
    CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {"no_such_kernel", std::nullopt}), Error);
}

TEST_CASE("the seed example's parameters on a small input, and run-to-run determinism", "[cpu][forward]") {
    Case c;
    c.params.in_channels = 16;
    c.params.out_channels = 33;
    c.params.kernel_size = {3, 5, 2};
    c.params.stride = {2, 1, 1};
    c.params.padding = {0, 4, 2};
    c.input_shape = {2, 16, 4, 9, 11};
    REQUIRE(output_shape(c.params, c.input_shape) == Shape{2, 33, 9, 5, 8});
    std::mt19937 rng(7);
    const Comparison r = run_and_compare(rng, c, Device::cpu, {});
    CHECK(r.non_finite == 0);
    CHECK(r.max_error <= tolerance(c));

    ConvTranspose3d layer(c.params, 3);
    Tensor x = Tensor::from_vector(random_values(rng, numel(c.input_shape)), c.input_shape);
    const std::vector<float> first = layer.forward(x).to_vector();
    for (int i = 0; i < 3; i++) CHECK(layer.forward(x).to_vector() == first);  // bitwise
}
