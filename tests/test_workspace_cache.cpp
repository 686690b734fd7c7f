// The workspace cache (runtime/src/workspace_cache.h): large intermediates are reused from
// one call to the next, and what a reused block still holds from an earlier call (of
// another layer or another kernel) never reaches an output. This test runs without
// CONVT3D_WORKSPACE_POISON (the other tests set it), so reused blocks hold real stale
// values, as they do for users.
#include "backward_support.h"
#include "test_support.h"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// A layer whose zero-padded input copy is several megabytes, so that it is cached.
Case big_case(int64_t width) {
    return {make_params(16, 24, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}), {2, 16, 12, 40, width}};
}

}  // namespace

TEST_CASE("large intermediates are reused across calls without leaking stale values", "[cpu][workspace]") {
    const char *poison = std::getenv("CONVT3D_WORKSPACE_POISON");
    REQUIRE((poison == nullptr || std::string(poison) == "0"));
    std::mt19937 rng(test_seed(11));
    release_workspace();
    const std::size_t reuses_before = workspace_stats().reuses;

    // The same layer twice on other data, then a narrower one and another kernel's layer,
    // each into a block the previous call filled.
    const Case cases[] = {big_case(40), big_case(40), big_case(33),
                          {make_params(16, 16, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}), {2, 16, 12, 40, 36}}};
    for (const Case &c : cases) {
        INFO(describe(c));
        for (bool integers : {false, true}) {
            const Inputs in = make_inputs(rng, c, integers);
            const Run r = run_fenced(c, in, Device::cpu, {});
            check_run(c, r, reference_output(c, in), integers);
        }
    }
    const WorkspaceStats after_forward = workspace_stats();
    CHECK(after_forward.reuses > reuses_before);
    CHECK(after_forward.cached_bytes >= (std::size_t(1) << 20));

    // The gradients' copies of grad_output: a second call on other data reuses the blocks
    // the first one filled.
    const Case c = big_case(40);
    for (bool integers : {false, true}) {
        const BackwardInputs in = make_backward_inputs(rng, c, integers);
        CHECK(check_backward_case(c, in, Device::cpu, {}));
    }
    CHECK(workspace_stats().reuses > after_forward.reuses);

    release_workspace();
    CHECK(workspace_stats().cached_bytes == 0);
    CHECK(workspace_stats().cached_blocks == 0);
}
