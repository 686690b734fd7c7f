// The grad_weight formulation over input channels reads grad_output through
// unsafe_promise_clamped: its reduction domain prunes every tap that would read outside, so
// the reads need no clamp (generators/conv_transpose3d_backward_algorithm.h). This test runs
// the g1 grad_weight kernel as shipped for sse41 (a tile of 8 input channels), built with
// Halide's check_unsafe_promises, on random layers that take that formulation: a broken
// promise stops the kernel with Halide's error (and the test with it) instead of reading
// outside grad_output. With r.x's upper bound one too far it aborts on the second case.
#include "backward_support.h"

#include "convt3d_grad_weight_g1_sse41_checked.h"

#include "HalideBuffer.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// A Halide buffer over a tensor in PyTorch order (dimensions reversed), batched to rank 5
// for the input and grad_output.
Halide::Runtime::Buffer<float> halide_view(float *data, Shape shape, bool batch) {
    if (batch && shape.size() == 4) shape.insert(shape.begin(), 1);
    std::vector<int> extents(shape.rbegin(), shape.rend());
    return Halide::Runtime::Buffer<float>(data, extents);
}

}  // namespace

TEST_CASE("grad_weight over input channels keeps its promises (check_unsafe_promises)", "[cpu][backward]") {
    std::mt19937 rng(test_seed(20261201, "checked_promises"));
    const auto eight_in_channels = [](const Params &p) {
        return p.in_channels == 8 && backward_kernel_supports("grad_weight", "g1", p);
    };
    int checked = 0;
    for (int i = 0; i < scaled(40); i++) {
        const Case c = random_case(rng, "g1", eight_in_channels, CaseSize::medium);
        const Params &p = c.params;
        if (!upsamples_or_partial_tile(c, 8)) continue;  // the other formulation
        const Shape out_shape = output_shape(p, c.input_shape);
        INFO("case " << i << ": " << describe(c));
        const BackwardInputs in = make_backward_inputs(rng, c, i % 2 == 1);
        std::vector<float> x = in.forward.x.to_vector(), g = in.grad_output;
        std::vector<float> gw(static_cast<size_t>(numel(weight_shape(p))), NAN);
        auto x_buf = halide_view(x.data(), c.input_shape, true), g_buf = halide_view(g.data(), out_shape, true);
        auto gw_buf = halide_view(gw.data(), weight_shape(p), false);
        const int result = convt3d_grad_weight_g1_sse41_checked(
            int(p.stride[2]), int(p.stride[1]), int(p.stride[0]), int(p.padding[2]), int(p.padding[1]),
            int(p.padding[0]), int(p.dilation[2]), int(p.dilation[1]), int(p.dilation[0]), 1, x_buf, g_buf, gw_buf);
        REQUIRE(result == 0);
        const BackwardReference ref = backward_reference(c, in);
        CHECK(check_gradient("grad_weight", gw, ref.value.grad_weight, ref.magnitude.grad_weight,
                             term_counts(c).grad_weight, in.forward.integers, weight_shape(p)));
        checked++;
    }
    CHECK(checked >= scaled(40) / 3);
}
