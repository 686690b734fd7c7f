// The ConvTranspose3d module: shapes, PyTorch's initialisation, seeding, forward.
#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace convt3d;

TEST_CASE("module parameters are initialised as torch.nn.ConvTranspose3d", "[module]") {
    Params p;
    p.in_channels = 8;
    p.out_channels = 12;
    p.kernel_size = {3, 5, 2};
    p.groups = 2;
    ConvTranspose3d layer(p, 11);
    REQUIRE(layer.weight().shape() == Shape{8, 6, 3, 5, 2});
    REQUIRE(layer.bias() != nullptr);
    REQUIRE(layer.bias()->shape() == Shape{12});
    const double bound = std::sqrt(2.0 / (12.0 * 3 * 5 * 2));
    const auto w = layer.weight().to_vector();
    double lo = 1, hi = -1, mean = 0;
    for (float v : w) {
        lo = std::min<double>(lo, v);
        hi = std::max<double>(hi, v);
        mean += v;
    }
    mean /= double(w.size());
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    CHECK(lo < -0.95 * bound);  // 1440 uniform draws reach near both ends
    CHECK(hi > 0.95 * bound);
    CHECK(std::fabs(mean) < 0.1 * bound);
    for (float v : layer.bias()->to_vector()) CHECK(std::fabs(v) <= bound);

    CHECK(ConvTranspose3d(p, 11).weight().to_vector() == w);
    CHECK(ConvTranspose3d(p, 12).weight().to_vector() != w);
    p.bias = false;
    CHECK(ConvTranspose3d(p, 11).bias() == nullptr);
}

TEST_CASE("module forward equals the functional call and the reference", "[module]") {
    Params p;
    p.in_channels = 4;
    p.out_channels = 6;
    p.kernel_size = {2, 2, 2};
    p.stride = {2, 2, 2};
    ConvTranspose3d layer(p, 5);
    std::mt19937 rng(5);
    const Shape in_shape{2, 4, 3, 4, 5};
    Tensor x = Tensor::from_vector(testing::random_values(rng, numel(in_shape)), in_shape);
    const Tensor y = layer.forward(x);
    CHECK(y.shape() == layer.output_shape(in_shape));
    CHECK(y.to_vector() == conv_transpose3d(x, layer.weight(), layer.bias(), p).to_vector());
    const auto ref = reference::forward(p, in_shape, x.to_vector(), layer.weight().to_vector(),
                                        layer.bias()->to_vector());
    const auto cmp = testing::compare(y.to_vector(), ref);
    CHECK(cmp.non_finite == 0);
    CHECK(cmp.max_error < 1e-5);
    CHECK_THROWS_AS(ConvTranspose3d(Params{}, 0), Error);
}
