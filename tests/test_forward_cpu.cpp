// Every CPU kernel variant, on every ISA this CPU runs, against the reference on random
// parameters, with the output poisoned by NaN first.
#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>

#include <unistd.h>

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
                REQUIRE(r.guard_damaged == 0);
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
    p.out_channels = 8;
    p.kernel_size = {2, 2, 2};
    p.stride = {2, 2, 2};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k2s2_g1");  // groups == 1: channel-vector schedule
    p.groups = 2;
    CHECK(choose_kernel(p, Device::cpu).kernel == "k2s2");
    p.kernel_size = {3, 3, 3};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k3s2");
    p.dilation = {2, 2, 2};
    CHECK(choose_kernel(p, Device::cpu).kernel == "generic");
    p.stride = {1, 1, 1};
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1");
    p.groups = 1;
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1_g1");
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

TEST_CASE("CONVT3D_CPU_ISA forces a CPU variant and CONVT3D_VERBOSE names the kernel", "[cpu][dispatch]") {
    Params p;
    p.in_channels = 2;
    p.out_channels = 8;
    p.kernel_size = {2, 2, 2};
    p.stride = {2, 2, 2};
    ConvTranspose3d layer(p, 1);
    Tensor x(Shape{1, 2, 2, 2, 2});
    x.fill(1.0f);

    setenv("CONVT3D_CPU_ISA", "sse41", 1);
    CHECK(choose_kernel(p, Device::cpu).cpu_isa == CpuIsa::sse41);
    const std::vector<float> sse = layer.forward(x).to_vector();
    setenv("CONVT3D_CPU_ISA", "avx9", 1);
    CHECK_THROWS_AS(layer.forward(x), Error);
    unsetenv("CONVT3D_CPU_ISA");
    CHECK(choose_kernel(p, Device::cpu).cpu_isa == best_cpu_isa());
    const std::vector<float> best = layer.forward(x).to_vector();
    for (size_t i = 0; i < best.size(); i++) CHECK(best[i] == Approx(sse[i]).margin(1e-6));

    // The verbose line goes to stderr; capture it through a temporary file.
    std::fflush(stderr);
    const int saved = dup(fileno(stderr));
    std::FILE *capture = std::tmpfile();
    dup2(fileno(capture), fileno(stderr));
    setenv("CONVT3D_VERBOSE", "1", 1);
    layer.forward(x);
    std::fflush(stderr);
    dup2(saved, fileno(stderr));
    close(saved);
    std::rewind(capture);
    char line[256] = {};
    const bool got = std::fgets(line, sizeof line, capture) != nullptr;
    std::fclose(capture);
    CHECK(got);
    CHECK(std::string(line).find("convt3d: forward kernel k2s2_g1 on cpu") != std::string::npos);
}
