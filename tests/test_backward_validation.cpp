// Argument errors of conv_transpose3d_backward: every one is an Error (or BackendError for
// a missing GPU) with a message naming the argument, raised before any kernel runs, and
// the gradients are left untouched.
#include "backward_support.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>

using namespace convt3d;
using namespace convt3d::testing;

namespace {

// One small legal case and buffers for it; each test breaks one thing.
struct Setup {
    Params p = make_params(4, 6, {3, 2, 2}, {2, 1, 2}, {1, 0, 0}, {1, 0, 1}, 2, true, {1, 2, 1});
    Shape in_shape{2, 4, 3, 4, 5};
    Shape out_shape = output_shape(p, in_shape);
    std::vector<float> x = std::vector<float>(size_t(numel(in_shape)), 1.0f);
    std::vector<float> w = std::vector<float>(size_t(numel(weight_shape(p))), 1.0f);
    std::vector<float> g = std::vector<float>(size_t(numel(out_shape)), 1.0f);
    std::vector<float> gi = std::vector<float>(x.size(), std::nanf(""));
    std::vector<float> gw = std::vector<float>(w.size(), std::nanf(""));
    std::vector<float> gb = std::vector<float>(6, std::nanf(""));
    ConstTensorView go_v{g.data(), out_shape}, x_v{x.data(), in_shape}, w_v{w.data(), weight_shape(p)};
    TensorView gi_v{gi.data(), in_shape}, gw_v{gw.data(), weight_shape(p)}, gb_v{gb.data(), {6}};

    void run() { conv_transpose3d_backward(go_v, x_v, w_v, &gi_v, &gw_v, &gb_v, p); }
    bool untouched() const {
        for (const auto *v : {&gi, &gw, &gb}) {
            for (float f : *v) {
                if (!std::isnan(f)) return false;
            }
        }
        return true;
    }
};

void expect_error(Setup &s, const std::string &fragment) {
    INFO("expected an Error mentioning '" << fragment << "'");
    try {
        s.run();
        FAIL_CHECK("no error");
    } catch (const Error &e) {
        INFO("message: " << e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
    CHECK(s.untouched());
}

}  // namespace

TEST_CASE("backward: a legal call works and the setup is sound", "[validation][backward]") {
    Setup s;
    s.run();
    CHECK_FALSE(s.untouched());
    for (float v : s.gb) CHECK(v == float(numel(s.out_shape) / 6));  // grad_output of ones
}

TEST_CASE("backward: bad grad_output is rejected", "[validation][backward]") {
    SECTION("wrong shape") {
        Setup s;
        Shape bad = s.out_shape;
        bad[4] += 1;
        s.go_v.shape = bad;
        expect_error(s, "grad_output shape");
    }
    SECTION("unbatched shape for a batched input") {
        Setup s;
        s.go_v.shape.erase(s.go_v.shape.begin());
        expect_error(s, "grad_output shape");
    }
    SECTION("null data") {
        Setup s;
        s.go_v.data = nullptr;
        expect_error(s, "grad_output.data is null");
    }
}

TEST_CASE("backward: bad input, weight and gradient buffers are rejected", "[validation][backward]") {
    SECTION("input channels") {
        Setup s;
        s.x_v.shape[1] = 5;
        expect_error(s, "channels");
    }
    SECTION("input rank") {
        Setup s;
        s.x_v.shape = {4, 3, 4};
        expect_error(s, "rank");
    }
    SECTION("null input") {
        Setup s;
        s.x_v.data = nullptr;
        expect_error(s, "input.data is null");
    }
    SECTION("weight shape") {
        Setup s;
        s.w_v.shape[2] = 2;
        expect_error(s, "weight shape");
    }
    SECTION("null weight") {
        Setup s;
        s.w_v.data = nullptr;
        expect_error(s, "weight.data is null");
    }
    SECTION("grad_input shape") {
        Setup s;
        s.gi_v.shape[0] = 1;
        expect_error(s, "grad_input shape");
    }
    SECTION("grad_weight shape") {
        Setup s;
        s.gw_v.shape = {4, 6, 3, 2, 2};
        expect_error(s, "grad_weight shape");
    }
    SECTION("grad_bias shape") {
        Setup s;
        s.gb_v.shape = {5};
        expect_error(s, "grad_bias shape");
    }
    SECTION("null grad_weight data") {
        Setup s;
        s.gw_v.data = nullptr;
        expect_error(s, "grad_weight.data is null");
    }
    SECTION("grad_bias without bias") {
        Setup s;
        s.p.bias = false;
        expect_error(s, "bias=false");
    }
    SECTION("a gradient on another device") {
        Setup s;
        s.gw_v.device = Device::cuda;
        expect_error(s, "grad_weight is on cuda");
    }
    SECTION("grad_input overlapping grad_output") {
        Setup s;
        s.gi_v.data = const_cast<float *>(s.g.data());
        expect_error(s, "overlaps an input");
    }
    SECTION("grad_weight overlapping grad_input") {
        Setup s;
        s.gw_v.data = s.gi.data() + 3;
        expect_error(s, "overlaps");
    }
}

TEST_CASE("backward: bad parameters and requests are rejected", "[validation][backward]") {
    SECTION("output_padding not smaller than stride or dilation") {
        Setup s;
        s.p.output_padding = {0, 2, 0};
        expect_error(s, "output_padding");
    }
    SECTION("groups not dividing the channels") {
        Setup s;
        s.p.groups = 3;
        expect_error(s, "groups");
    }
    SECTION("no gradient requested") {
        Setup s;
        CHECK_THROWS_WITH(conv_transpose3d_backward(s.go_v, s.x_v, s.w_v, nullptr, nullptr, nullptr, s.p),
                          Catch::Contains("no gradient requested"));
    }
    SECTION("an unknown kernel") {
        Setup s;
        CHECK_THROWS_WITH(conv_transpose3d_backward(s.go_v, s.x_v, s.w_v, &s.gi_v, nullptr, nullptr, s.p, {"k2s2", {}}),
                          Catch::Contains("kernel='k2s2'"));
        CHECK(s.untouched());
    }
    SECTION("a kernel compiled for groups == 1 forced on grouped parameters") {
        Setup s;
        CHECK_THROWS_WITH(conv_transpose3d_backward(s.go_v, s.x_v, s.w_v, &s.gi_v, &s.gw_v, &s.gb_v, s.p, {"g1", {}}),
                          Catch::Contains("does not support"));
        CHECK(s.untouched());
    }
    SECTION("Tensor form and module: mismatched devices and shapes") {
        Setup s;
        const Tensor x = Tensor::from_vector(s.x, s.in_shape), w = Tensor::from_vector(s.w, weight_shape(s.p));
        const Tensor bad_g = Tensor::from_vector(std::vector<float>(s.g.size()), {static_cast<int64_t>(s.g.size())});
        CHECK_THROWS_AS(conv_transpose3d_backward(bad_g, x, w, s.p), Error);
        ConvTranspose3d layer(s.p);
        CHECK_THROWS_AS(layer.backward(x, bad_g), Error);
        CHECK_THROWS_AS(layer.backward(x, Tensor::from_vector(s.g, s.out_shape), {false, false, false}), Error);
    }
}

TEST_CASE("backward: CUDA requests without a GPU fail with BackendError", "[validation][backward][cuda]") {
    if (cuda_available()) return;  // covered by test_backward_cuda on GPU machines
    Setup s;
    s.go_v.device = s.x_v.device = s.w_v.device = Device::cuda;
    s.gi_v.device = s.gw_v.device = s.gb_v.device = Device::cuda;
    CHECK_THROWS_AS(s.run(), BackendError);
}
