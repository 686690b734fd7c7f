// Grouped layers that default CPU dispatch runs one group at a time through a groups == 1
// kernel (KernelChoice::group_calls): which layers, what is reported, and results against
// the reference, forward and backward, with fenced NaN-poisoned outputs.
#include "backward_support.h"
#include "test_support.h"

#include <catch2/catch.hpp>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// `groups` copies of a groups == 1 case side by side: the same per-group layer.
Case grouped_from(Case one, int64_t groups) {
    one.params.in_channels *= groups;
    one.params.out_channels *= groups;
    one.params.groups = groups;
    one.input_shape[one.input_shape.size() == 5 ? 1 : 0] *= groups;
    return one;
}

}  // namespace

TEST_CASE("a grouped layer runs once per group when one group's layer takes a groups == 1 kernel",
          "[cpu][dispatch][groups]") {
    // grouped_g4_k3s1 of the benchmark suite: 16 channels per group.
    const Params p = make_params(64, 64, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 4);
    const KernelChoice c = choose_kernel(p, Device::cpu);
    CHECK(c.kernel == "s1_g1");
    CHECK(c.group_calls == 4);
    CHECK(c.describe().find("one call per group (4)") != std::string::npos);
    // A forced kernel runs the layer as it is.
    CHECK(choose_kernel(p, Device::cpu, {"s1", std::nullopt}).group_calls == 1);
    // Too few channels per group, or a per-group layer that only a grouped kernel would
    // take anyway (depthwise: one channel per group): one call.
    CHECK(choose_kernel(make_params(16, 16, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 4), Device::cpu)
              .group_calls == 1);
    CHECK(choose_kernel(make_params(64, 64, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 64), Device::cpu)
              .group_calls == 1);
}

TEST_CASE("layers run once per group match the reference", "[cpu][forward][groups]") {
    std::mt19937 rng(test_seed(23, "group split forward"));
    const char *one_group_kernels[] = {"k2s2_g1", "k3s2_g1", "k4s2_g1", "s1_g1", "generic_g1"};
    int split = 0;
    for (int i = 0; i < scaled(20); i++) {
        const std::string kernel = one_group_kernels[i % 5];
        Case one = random_case(rng, kernel, i % 4 == 3 ? CaseSize::medium : CaseSize::small);
        if (one.params.out_channels < 8) continue;
        const Case c = grouped_from(one, 2 + i % 3);
        INFO(describe(c) << " (one group's layer drawn for " << kernel << ")");
        const bool integers = i % 2 == 1;
        const Inputs in = make_inputs(rng, c, integers);
        const Run r = run_fenced(c, in, Device::cpu, {});
        CHECK(r.choice.kernel == choose_kernel(one_group_of(c.params), Device::cpu).kernel);
        CHECK(r.choice.group_calls == c.params.groups);
        check_run(c, r, reference_output(c, in), integers);
        split += r.choice.group_calls > 1;
    }
    CHECK(split >= 10);
}

TEST_CASE("gradients of layers run once per group match the reference", "[cpu][backward][groups]") {
    std::mt19937 rng(test_seed(29, "group split backward"));
    int split_input = 0, split_weight = 0;
    for (int i = 0; i < scaled(12); i++) {
        Case one = random_backward_case(rng, "g1", i % 4 == 3 ? CaseSize::medium : CaseSize::small);
        const Case c = grouped_from(one, 2 + i % 3);
        INFO(describe(c));
        const BackwardInputs in = make_backward_inputs(rng, c, i % 2 == 1);
        const BackwardRun r = run_backward_fenced(c, in, Device::cpu, {});
        const Params pg = one_group_of(c.params);
        // One call per group exactly when one group's layer takes the groups == 1 kernel.
        CHECK((r.choice.grad_input->group_calls > 1) == backward_kernel_supports("grad_input", "g1", pg));
        CHECK((r.choice.grad_weight->group_calls > 1) == backward_kernel_supports("grad_weight", "g1", pg));
        if (r.choice.grad_input->group_calls > 1) {
            CHECK((r.choice.grad_input->kernel == "g1" || r.choice.grad_input->kernel == "g1c16"));
        }
        if (r.choice.grad_weight->group_calls > 1) CHECK(r.choice.grad_weight->kernel == "g1");
        if (r.choice.grad_bias) CHECK(r.choice.grad_bias->group_calls == 1);
        split_input += r.choice.grad_input->group_calls > 1;
        split_weight += r.choice.grad_weight->group_calls > 1;
        CHECK(check_backward_case(c, in, Device::cpu, {}));
    }
    CHECK(split_input >= 3);
    CHECK(split_weight >= 3);
}
