// The ConvTranspose3d module: shapes, PyTorch's initialisation U(-sqrt(k), sqrt(k)) with
// k = groups / (out_channels * kD * kH * kW), seeding, and forward against the functional
// call and the reference.
#include "test_support.h"

#include "reference.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// A layer with the default stride, padding and dilation.
Params params(int64_t cin, int64_t cout, Triple k, int64_t groups = 1, bool bias = true) {
    return make_params(cin, cout, k, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, groups, bias);
}

double init_bound(const Params &p) {
    return std::sqrt(double(p.groups) /
                     (double(p.out_channels) * double(p.kernel_size[0] * p.kernel_size[1] * p.kernel_size[2])));
}

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_against_reference(const Tensor &y, const Params &p, const Shape &in_shape, const Tensor &x,
                             const Tensor &w, const Tensor *b) {
    const auto ref = reference::forward(p, in_shape, x.to_vector(), w.to_vector(),
                                        b ? b->to_vector() : std::vector<float>{});
    CHECK(y.shape() == reference::output_shape(p, in_shape));
    const Comparison cmp = compare(y.to_vector(), ref);
    CHECK(cmp.non_finite == 0);
    CHECK(cmp.max_error < tolerance(Case{p, in_shape}));
}

}  // namespace

TEST_CASE("module parameters have PyTorch's shapes and bounds", "[module]") {
    const Params p = params(8, 12, {3, 5, 2}, 2);
    ConvTranspose3d layer(p, 11);
    CHECK(layer.params().in_channels == 8);
    CHECK(layer.params().out_channels == 12);
    CHECK(layer.params().kernel_size == Triple{3, 5, 2});
    CHECK(layer.params().groups == 2);
    CHECK(layer.device() == Device::cpu);
    REQUIRE(layer.weight().shape() == Shape{8, 6, 3, 5, 2});
    REQUIRE(layer.bias() != nullptr);
    REQUIRE(layer.bias()->shape() == Shape{12});
    const double bound = init_bound(p);  // sqrt(2 / (12 * 30))
    CHECK(bound == Approx(std::sqrt(2.0 / 360.0)));
    for (float v : layer.weight().to_vector()) REQUIRE(std::fabs(v) <= bound * (1 + 1e-6));
    for (float v : layer.bias()->to_vector()) REQUIRE(std::fabs(v) <= bound * (1 + 1e-6));

    const Params no_bias = params(8, 12, {3, 5, 2}, 2, false);
    ConvTranspose3d plain(no_bias, 11);
    CHECK(plain.bias() == nullptr);
    CHECK(static_cast<const ConvTranspose3d &>(plain).bias() == nullptr);
    CHECK(plain.weight().shape() == Shape{8, 6, 3, 5, 2});
}

TEST_CASE("module initialisation is uniform over the whole bound", "[module]") {
    for (const int64_t groups : {1, 4}) {
        const Params p = params(64, 64, {3, 3, 3}, groups);
        INFO("groups " << groups);
        ConvTranspose3d layer(p, 2024);
        const double bound = init_bound(p);
        const std::vector<float> w = layer.weight().to_vector();
        REQUIRE(w.size() == static_cast<size_t>(64 * (64 / groups) * 27));
        double lo = 0, hi = 0, sum = 0, sq = 0;
        std::vector<int> bins(10, 0);
        for (float v : w) {
            lo = std::min<double>(lo, v);
            hi = std::max<double>(hi, v);
            sum += v;
            sq += double(v) * v;
            const int bin = static_cast<int>((v + bound) / (2 * bound) * 10);
            bins[static_cast<size_t>(std::clamp(bin, 0, 9))]++;
        }
        const double n = double(w.size());
        const double mean = sum / n, var = sq / n - mean * mean;
        CHECK(lo >= -bound * (1 + 1e-6));
        CHECK(hi <= bound * (1 + 1e-6));
        CHECK(lo < -0.995 * bound);  // tens of thousands of draws reach both ends
        CHECK(hi > 0.995 * bound);
        CHECK(std::fabs(mean) < 0.02 * bound);              // > 5 standard errors
        CHECK(var == Approx(bound * bound / 3).epsilon(0.03));  // variance of U(-b, b)
        for (int count : bins) CHECK(std::fabs(count - n / 10) < 0.1 * n / 10);
        // The bias shares the bound and is not all equal.
        const std::vector<float> b = layer.bias()->to_vector();
        for (float v : b) CHECK(std::fabs(v) <= bound * (1 + 1e-6));
        CHECK(*std::min_element(b.begin(), b.end()) < *std::max_element(b.begin(), b.end()));
    }
}

TEST_CASE("module initialisation is reproducible from the seed", "[module]") {
    const Params p = params(6, 9, {2, 3, 2}, 3);
    ConvTranspose3d a(p, 11), b(p, 11), c(p, 12);
    const auto wa = a.weight().to_vector();
    CHECK(bitwise_equal(wa, b.weight().to_vector()));
    CHECK(bitwise_equal(a.bias()->to_vector(), b.bias()->to_vector()));
    CHECK_FALSE(bitwise_equal(wa, c.weight().to_vector()));
    CHECK_FALSE(bitwise_equal(a.bias()->to_vector(), c.bias()->to_vector()));
    CHECK(bitwise_equal(ConvTranspose3d(p).weight().to_vector(), ConvTranspose3d(p, 0).weight().to_vector()));
    // reset_parameters(seed) gives what construction with that seed gives.
    c.reset_parameters(11);
    CHECK(bitwise_equal(c.weight().to_vector(), wa));
    CHECK(bitwise_equal(c.bias()->to_vector(), a.bias()->to_vector()));
    a.reset_parameters(99);
    CHECK_FALSE(bitwise_equal(a.weight().to_vector(), wa));
    // Weight values are not all the same (a degenerate generator would pass the bounds).
    CHECK(std::adjacent_find(wa.begin(), wa.end(), std::not_equal_to<float>()) != wa.end());
}

TEST_CASE("module forward equals the functional call and the reference", "[module]") {
    std::mt19937 rng(5);
    struct Item {
        Params p;
        Shape in_shape;
    };
    std::vector<Item> items;
    {
        Params p = params(4, 6, {2, 2, 2});
        p.stride = {2, 2, 2};
        items.push_back({p, {2, 4, 3, 4, 5}});
        items.push_back({p, {4, 3, 4, 5}});  // unbatched
    }
    {
        Params p = params(6, 9, {3, 1, 2}, 3, false);
        p.stride = {2, 1, 3};
        p.padding = {1, 0, 1};
        p.output_padding = {1, 0, 2};
        p.dilation = {1, 2, 1};
        items.push_back({p, {2, 6, 3, 4, 5}});
    }
    {
        Params p = params(16, 33, {3, 5, 2});
        p.stride = {2, 1, 1};
        p.padding = {0, 4, 2};
        items.push_back({p, {1, 16, 3, 6, 7}});
    }
    for (const Item &it : items) {
        INFO(describe(Case{it.p, it.in_shape}));
        ConvTranspose3d layer(it.p, 5);
        const Tensor x = Tensor::from_vector(random_values(rng, numel(it.in_shape)), it.in_shape);
        const Tensor y = layer.forward(x);
        CHECK(y.shape() == layer.output_shape(it.in_shape));
        CHECK(y.shape() == output_shape(it.p, it.in_shape));
        CHECK(y.device() == Device::cpu);
        CHECK(bitwise_equal(y.to_vector(), conv_transpose3d(x, layer.weight(), layer.bias(), it.p).to_vector()));
        check_against_reference(y, it.p, it.in_shape, x, layer.weight(), layer.bias());
        // Dispatch options pass through: the generic kernel on the baseline ISA agrees too.
        const Tensor yg = layer.forward(x, {"generic", CpuIsa::sse41});
        check_against_reference(yg, it.p, it.in_shape, x, layer.weight(), layer.bias());
    }
}

TEST_CASE("module forward uses the current weight and bias", "[module]") {
    Params p = params(3, 8, {2, 2, 2});
    p.stride = {2, 2, 2};
    ConvTranspose3d layer(p, 1);
    const Shape in_shape{1, 3, 2, 2, 2};
    Tensor x(in_shape);
    x.fill(1.0f);
    (void)layer.forward(x);  // a first call, in case anything is cached from it
    layer.weight().fill(0.0f);
    layer.bias()->fill(2.5f);
    for (float v : layer.forward(x).to_vector()) REQUIRE(v == 2.5f);
    layer.weight().fill(1.0f);
    layer.bias()->fill(0.0f);
    // Kernel 2, stride 2: every output gets exactly one input position times 3 channels.
    for (float v : layer.forward(x).to_vector()) REQUIRE(v == 3.0f);
    layer.reset_parameters(1);
    check_against_reference(layer.forward(x), p, in_shape, x, layer.weight(), layer.bias());
    CHECK(&layer.to(Device::cpu) == &layer);  // already there: a no-op
    CHECK(layer.device() == Device::cpu);
}

TEST_CASE("module construction validates its parameters", "[module]") {
    CHECK_THROWS_AS(ConvTranspose3d(Params{}, 0), Error);
    CHECK_THROWS_AS(ConvTranspose3d(params(4, 6, {3, 3, 3}, 4)), Error);
    Params p = params(4, 6, {3, 3, 3});
    p.padding_mode = "replicate";
    CHECK_THROWS_AS(ConvTranspose3d(p), Error);
}
