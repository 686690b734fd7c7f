// The CPU kernels against the double-precision scatter reference: every compiled kernel on
// every ISA this CPU runs, on random parameters drawn for the kernel's preconditions, with
// the output poisoned by NaN and fenced by sentinels; dispatch rules; hand-picked edge cases.
#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <thread>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

constexpr int kSmallCasesPerKernelAndIsa = 150;
constexpr int kMediumCasesPerKernelAndIsa = 6;

}  // namespace

TEST_CASE("every CPU kernel on every ISA matches the reference on random parameters", "[cpu][forward]") {
    const auto isas = supported_isas();
    REQUIRE_FALSE(isas.empty());
    const auto kernels = kernel_names(Device::cpu);
    REQUIRE_FALSE(kernels.empty());
    REQUIRE(kernels.back() == "generic");
    std::string isa_list;
    for (CpuIsa isa : isas) isa_list += std::string(isa_list.empty() ? "" : ", ") + to_string(isa);
    WARN("CPU ISAs tested: " << isa_list << "; kernels: " << kernels.size());

    const int count = scaled(kSmallCasesPerKernelAndIsa), medium = scaled(kMediumCasesPerKernelAndIsa);
    Coverage total;
    for (const std::string &kernel : kernels) {
        Coverage per_kernel;
        for (CpuIsa isa : isas) {
            std::mt19937 rng(test_seed(20261124, kernel + "/" + to_string(isa)));
            const Coverage cov = sweep_kernel(rng, kernel, Device::cpu, isa, count, medium);
            // A sweep that stopped early has already reported its failure.
            CHECK(cov.cases == count + medium);
            per_kernel += cov;
        }
        INFO(kernel << ": " << per_kernel.describe());
        // Situations every kernel can meet must have been drawn for it; generic accepts
        // everything, so every situation must appear.
        per_kernel.check_drawn(kernel == "generic");
        total += per_kernel;
    }
    CHECK(total.cases >= static_cast<int>(kernels.size() * isas.size()) * 40);
    WARN("random CPU cases checked: " << total.describe());
}

TEST_CASE("kernel_supports agrees with forcing a kernel and with its name", "[cpu][dispatch]") {
    std::mt19937 rng(test_seed(77, "supports"));
    const auto kernels = kernel_names(Device::cpu);
    static const std::regex ks("^k([0-9]+)s([0-9]+)"), s("^s([0-9]+)");
    int accepted = 0;
    for (int i = 0; i < 400; i++) {
        const Case c = random_case(rng, "generic");  // any legal parameters
        const Params &p = c.params;
        INFO(describe(c));
        CHECK(kernel_supports("generic", p));
        CHECK_FALSE(kernel_supports("no_such_kernel", p));
        // Default dispatch: the first kernel of the ordered list whose preconditions hold; or,
        // for a grouped layer with at least 8 output channels per group, the first for one
        // group's layer, once per group, when that one is compiled for groups == 1.
        auto first_for = [&](const Params &q) {
            for (const std::string &k : kernels) {
                if (kernel_supports(k, q)) return k;
            }
            return std::string();
        };
        std::string first = first_for(p);
        int64_t calls = 1;
        if (p.groups > 1 && p.out_channels / p.groups >= 8) {
            if (const std::string k = first_for(one_group_of(p)); !kernel_supports(k, p)) {
                first = k;
                calls = p.groups;
            }
        }
        CHECK(choose_kernel(p, Device::cpu).kernel == first);
        CHECK(choose_kernel(p, Device::cpu).group_calls == calls);
        for (const std::string &k : kernels) {
            INFO("kernel " << k);
            if (!kernel_supports(k, p)) {
                CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {k, std::nullopt}), Error);
                continue;
            }
            accepted++;
            CHECK(choose_kernel(p, Device::cpu, {k, std::nullopt}).kernel == k);
            // What the name promises.
            std::smatch m;
            if (std::regex_search(k, m, ks)) {
                for (int a = 0; a < 3; a++) {
                    CHECK(p.kernel_size[a] == std::stoi(m[1]));
                    CHECK(p.stride[a] == std::stoi(m[2]));
                    CHECK(p.dilation[a] == 1);
                }
            } else if (std::regex_search(k, m, s)) {
                for (int a = 0; a < 3; a++) CHECK(p.stride[a] == std::stoi(m[1]));
            }
            if (k.find("_g1") != std::string::npos) CHECK(p.groups == 1);
            if (k.find("_dw") != std::string::npos) CHECK(p.in_channels == p.groups);
        }
    }
    CHECK(accepted > 400);  // more than "generic" alone
}

TEST_CASE("default dispatch picks a specialised kernel when its preconditions hold", "[cpu][dispatch]") {
    Params p = make_params(4, 8, {2, 2, 2}, {2, 2, 2});
    CHECK(choose_kernel(p, Device::cpu).kernel != "generic");
    CHECK(choose_kernel(p, Device::cpu).kernel.rfind("k2s2", 0) == 0);
    p.groups = 2;
    CHECK(choose_kernel(p, Device::cpu).kernel == "k2s2");
    p.groups = 4;
    CHECK(choose_kernel(p, Device::cpu).kernel == "k2s2_dw");
    p.groups = 2;
    p.kernel_size = {3, 3, 3};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k3s2");
    p.kernel_size = {4, 4, 4};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k4s2");
    p.groups = 4;  // one input channel per group: depthwise
    CHECK(choose_kernel(p, Device::cpu).kernel == "k4s2_dw");
    p.kernel_size = {3, 3, 3};
    CHECK(choose_kernel(p, Device::cpu).kernel == "k3s2_dw");
    p.groups = 2;
    p.kernel_size = {3, 3, 3};
    p.dilation = {2, 2, 2};  // dilation 2, stride 2: nothing specialised applies
    CHECK(choose_kernel(p, Device::cpu).kernel == "generic");
    p.kernel_size = {2, 2, 2};
    CHECK(choose_kernel(p, Device::cpu).kernel == "generic");
    p.kernel_size = {2, 2, 3};  // anisotropic kernel with stride 2
    p.dilation = {1, 1, 1};
    CHECK(choose_kernel(p, Device::cpu).kernel == "generic");
    p.stride = {1, 1, 1};
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1");
    p.groups = 4;
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1_dw");
    p.groups = 1;
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1_g1");
    p.out_channels = 4;  // too few output channels for the channel-vector kernels
    CHECK(choose_kernel(p, Device::cpu).kernel == "s1");
    p.stride = {2, 1, 1};  // one group, no uniform stride: the generic kernel for one group
    CHECK(choose_kernel(p, Device::cpu).kernel == "generic_g1");
    CHECK(kernel_names(Device::cpu).back() == "generic");
    p = make_params(4, 8, {3, 3, 3}, {1, 1, 1});
    CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {"k2s2", std::nullopt}), Error);
    CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {"no_such_kernel", std::nullopt}), Error);
    CHECK(choose_kernel(p, Device::cpu, {"generic", CpuIsa::sse41}).cpu_isa == CpuIsa::sse41);
    CHECK(choose_kernel(p, Device::cpu).cpu_isa == best_cpu_isa());
}

TEST_CASE("the seed example's parameters on a small input, and run-to-run determinism", "[cpu][forward]") {
    Case c;
    c.params = seed_example_params();
    c.input_shape = {2, 16, 4, 9, 11};
    REQUIRE(output_shape(c.params, c.input_shape) == Shape{2, 33, 9, 5, 8});
    CHECK(choose_kernel(c.params, Device::cpu).kernel == "generic_g1");
    CHECK(check_case_everywhere(c, Device::cpu, 7) >= 2 * 2 * static_cast<int>(supported_isas().size()));

    // Default dispatch, through the module: bitwise identical run to run.
    ConvTranspose3d layer(c.params, 3);
    std::mt19937 rng(7);
    Tensor x = Tensor::from_vector(random_values(rng, numel(c.input_shape)), c.input_shape);
    const std::vector<float> first = layer.forward(x).to_vector();
    for (int i = 0; i < 3; i++) {
        const std::vector<float> again = layer.forward(x).to_vector();
        REQUIRE(again.size() == first.size());
        CHECK(std::memcmp(again.data(), first.data(), first.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("hand-picked edge cases on every kernel that accepts them", "[cpu][forward]") {
    int runs = 0;
    uint32_t seed = 100;
    const auto cases = edge_cases();
    for (const NamedCase &n : cases) {
        INFO(n.what);
        runs += check_case_everywhere(n.c, Device::cpu, seed++);
    }
    CHECK(runs >= static_cast<int>(cases.size()) * 2 * 2 * static_cast<int>(supported_isas().size()));
}

TEST_CASE("realistic layer shapes (full tiles, many channels) on every kernel that accepts them", "[cpu][forward]") {
    const std::vector<NamedCase> layers = {
        {"GAN generator block k4 s2 p1", {make_params(32, 64, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}), {1, 32, 4, 8, 16}}},
        {"U-Net decoder k2 s2", {make_params(64, 32, {2, 2, 2}, {2, 2, 2}), {1, 64, 4, 8, 16}}},
        {"k3 s1 p1 refinement", {make_params(16, 24, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}), {1, 16, 6, 10, 33}}},
        {"k3 s2 p1 op1 grouped", {make_params(32, 32, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 4), {2, 32, 3, 7, 12}}},
        {"the seed example's layer on a smaller input",
         {seed_example_params(), {1, 16, 5, 12, 30}}},
    };
    uint32_t seed = 900;
    for (const NamedCase &n : layers) {
        INFO(n.what);
        CHECK(check_case_everywhere(n.c, Device::cpu, seed++) >= 4);
    }
}

TEST_CASE("outputs no input reaches hold exactly the bias", "[cpu][forward]") {
    // kernel 1, stride 3: only every third output position gets a product.
    Case c{make_params(2, 3, {1, 1, 1}, {3, 3, 3}, {0, 0, 0}, {2, 2, 2}), {1, 2, 2, 2, 2}};
    std::mt19937 rng(5);
    const Inputs in = make_inputs(rng, c, false);
    for (CpuIsa isa : supported_isas()) {
        for (const std::string &kernel : kernel_names(Device::cpu)) {
            if (!kernel_supports(kernel, c.params)) continue;
            INFO(kernel << " (" << to_string(isa) << ")");
            const Run r = run_fenced(c, in, Device::cpu, {kernel, isa});
            const Shape out = output_shape(c.params, c.input_shape);  // (1, 3, 6, 6, 6)
            REQUIRE(out == Shape{1, 3, 6, 6, 6});
            for (int64_t co = 0; co < 3; co++)
                for (int64_t d = 0; d < 6; d++)
                    for (int64_t h = 0; h < 6; h++)
                        for (int64_t w = 0; w < 6; w++) {
                            if (d % 3 == 0 && h % 3 == 0 && w % 3 == 0) continue;
                            const float v = r.output[static_cast<size_t>(((co * 6 + d) * 6 + h) * 6 + w)];
                            INFO("co=" << co << " d=" << d << " h=" << h << " w=" << w);
                            REQUIRE(v == in.bias_values[static_cast<size_t>(co)]);
                        }
        }
    }
}

TEST_CASE("concurrent calls from several threads give the single-threaded results", "[cpu][forward]") {
    // Cases and inputs drawn up front; each thread runs its share of them, all at once.
    std::mt19937 rng(test_seed(606, "threads"));
    const auto kernels = kernel_names(Device::cpu);
    struct Job {
        Case c;
        Inputs in;
        std::string kernel;
        std::vector<float> alone, together;
    };
    std::vector<Job> jobs;
    for (int i = 0; i < 24; i++) {
        const std::string &kernel = kernels[static_cast<size_t>(i) % kernels.size()];
        const Case c = random_case(rng, kernel, i % 4 == 0 ? CaseSize::medium : CaseSize::small);
        jobs.push_back({c, make_inputs(rng, c, false), kernel, {}, {}});
    }
    for (Job &j : jobs) j.alone = run_fenced(j.c, j.in, Device::cpu, {j.kernel, std::nullopt}).output;
    std::vector<std::thread> threads;
    std::vector<std::string> errors(4);
    for (size_t t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            try {
                for (size_t i = t; i < jobs.size(); i += 4) {
                    jobs[i].together = run_fenced(jobs[i].c, jobs[i].in, Device::cpu, {jobs[i].kernel, std::nullopt}).output;
                }
            } catch (const std::exception &e) {
                errors[t] = e.what();
            }
        });
    }
    for (auto &th : threads) th.join();
    for (const std::string &e : errors) CHECK(e.empty());
    for (const Job &j : jobs) {
        INFO(j.kernel << ": " << describe(j.c));
        REQUIRE(j.together.size() == j.alone.size());
        CHECK(std::memcmp(j.together.data(), j.alone.data(), j.alone.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("the runtime reports where each built-in kernel's schedule came from, as forward.json says",
          "[cpu][cuda][dispatch]") {
    std::ifstream file(CONVT3D_SCHEDULE_FILE);
    const nlohmann::json tuned = nlohmann::json::parse(file).value("tuned", nlohmann::json::object());
    auto expected = [&](const std::string &target, const std::string &kernel) {
        return tuned.contains(target) && tuned[target].contains(kernel) ? "tuned" : "hand-written";
    };
    std::mt19937 rng(test_seed(9090, "schedule provenance"));
    int checked = 0;
    for (const Device device : {Device::cpu, Device::cuda}) {
        for (const std::string &kernel : kernel_names(device)) {
            const Params p = random_case(rng, kernel).params;
            if (device == Device::cuda) {
                const KernelChoice k = choose_kernel(p, device, {kernel, std::nullopt});
                CHECK(k.schedule == expected("cuda", kernel));
                CHECK(k.describe() == kernel + " on cuda (" + expected("cuda", kernel) + " schedule)");
                checked++;
                continue;
            }
            for (const CpuIsa isa : supported_isas()) {
                INFO(kernel << " on " << to_string(isa));
                const KernelChoice k = choose_kernel(p, device, {kernel, isa});
                CHECK(k.schedule == expected(to_string(isa), kernel));
                CHECK(k.describe() ==
                      kernel + " on cpu (" + to_string(isa) + ", " + expected(to_string(isa), kernel) + " schedule)");
                checked++;
            }
        }
    }
    CHECK(checked >= static_cast<int>(kernel_names(Device::cpu).size()));
}

TEST_CASE("CONVT3D_CPU_ISA forces a CPU variant and CONVT3D_VERBOSE names the kernel", "[cpu][dispatch]") {
    Params p = make_params(2, 8, {2, 2, 2}, {2, 2, 2});
    ConvTranspose3d layer(p, 1);
    Tensor x(Shape{1, 2, 2, 2, 2});
    x.fill(1.0f);

    setenv("CONVT3D_CPU_ISA", "sse41", 1);
    CHECK(choose_kernel(p, Device::cpu).cpu_isa == CpuIsa::sse41);
    const std::vector<float> sse = layer.forward(x).to_vector();
    // An explicit DispatchOptions ISA wins over the environment.
    if (cpu_supports(CpuIsa::avx2)) CHECK(choose_kernel(p, Device::cpu, {"", CpuIsa::avx2}).cpu_isa == CpuIsa::avx2);
    setenv("CONVT3D_CPU_ISA", "avx9", 1);
    CHECK_THROWS_AS(layer.forward(x), Error);
    unsetenv("CONVT3D_CPU_ISA");
    CHECK(choose_kernel(p, Device::cpu).cpu_isa == best_cpu_isa());
    const std::vector<float> best = layer.forward(x).to_vector();
    REQUIRE(best.size() == sse.size());
    for (size_t i = 0; i < best.size(); i++) CHECK(best[i] == Approx(sse[i]).margin(1e-6));

    // The verbose line goes to stderr.
    const KernelChoice choice = choose_kernel(p, Device::cpu);
    const std::string text = verbose_stderr([&] { layer.forward(x); });
    INFO("stderr: " << text);
    CHECK(text.find("convt3d: forward kernel " + choice.describe()) != std::string::npos);
    CHECK(text.find("on cpu") != std::string::npos);
}
