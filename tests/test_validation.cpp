// Every validation rule: an Error whose message names the argument and its value.
#include "reference.h"

#include <catch2/catch.hpp>

#include <climits>
#include <functional>

using namespace convt3d;

namespace {

Params valid_params() {
    Params p;
    p.in_channels = 4;
    p.out_channels = 6;
    p.kernel_size = {3, 3, 3};
    p.stride = {2, 2, 2};
    p.padding = {1, 1, 1};
    p.groups = 2;
    return p;
}

void require_error(const std::function<void()> &f, const std::vector<std::string> &fragments) {
    try {
        f();
        FAIL("no error was raised; expected one mentioning " << fragments.front());
    } catch (const Error &e) {
        const std::string msg = e.what();
        for (const auto &frag : fragments) {
            INFO("message: " << msg);
            CHECK(msg.find(frag) != std::string::npos);
        }
    }
}

void require_param_error(const std::function<void(Params &)> &edit, const std::vector<std::string> &fragments) {
    Params p = valid_params();
    edit(p);
    require_error([&] { validate(p); }, fragments);
    require_error([&] { output_shape(p, {1, p.in_channels, 3, 3, 3}); }, fragments);
}

}  // namespace

TEST_CASE("output_shape follows the formula", "[validation]") {
    Params p;
    p.in_channels = 16;
    p.out_channels = 33;
    p.kernel_size = {3, 5, 2};
    p.stride = {2, 1, 1};
    p.padding = {0, 4, 2};
    CHECK(output_shape(p, {20, 16, 10, 50, 100}) == Shape{20, 33, 21, 46, 97});
    CHECK(output_shape(p, {16, 10, 50, 100}) == Shape{33, 21, 46, 97});  // unbatched
    Params q = valid_params();
    q.output_padding = {1, 0, 1};
    q.dilation = {1, 2, 1};
    // (5-1)*2 - 2 + d*(3-1) + op + 1
    CHECK(output_shape(q, {2, 4, 5, 5, 5}) == Shape{2, 6, 10, 11, 10});
    CHECK(output_shape(q, {2, 4, 5, 5, 5}) == reference::output_shape(q, {2, 4, 5, 5, 5}));
    CHECK(weight_shape(q) == Shape{4, 3, 3, 3, 3});
}

TEST_CASE("bad hyper-parameters are rejected with the argument named", "[validation]") {
    require_param_error([](Params &p) { p.in_channels = 0; }, {"in_channels", "0"});
    require_param_error([](Params &p) { p.out_channels = -3; }, {"out_channels", "-3"});
    require_param_error([](Params &p) { p.groups = 0; }, {"groups", "0"});
    require_param_error([](Params &p) { p.groups = 3; }, {"groups=3", "in_channels=4"});
    require_param_error([](Params &p) { p.in_channels = 6; p.out_channels = 4; p.groups = 3; },
                        {"groups=3", "out_channels=4"});
    require_param_error([](Params &p) { p.kernel_size = {3, 0, 3}; }, {"kernel_size", "0"});
    require_param_error([](Params &p) { p.stride = {2, 2, -1}; }, {"stride", "-1"});
    require_param_error([](Params &p) { p.dilation = {0, 1, 1}; }, {"dilation", "0"});
    require_param_error([](Params &p) { p.padding = {0, -1, 0}; }, {"padding", "-1"});
    require_param_error([](Params &p) { p.output_padding = {-1, 0, 0}; }, {"output_padding", "-1"});
    require_param_error([](Params &p) { p.output_padding = {2, 0, 0}; }, {"output_padding", "stride", "dilation"});
    require_param_error([](Params &p) { p.padding_mode = "reflect"; }, {"padding_mode", "reflect"});
    require_param_error([](Params &p) { p.dilation = {INT64_MAX / 2, 1, 1}; }, {"overflow"});
}

TEST_CASE("output_padding may reach dilation-1 when stride is 1 (PyTorch's rule)", "[validation]") {
    Params p = valid_params();
    p.stride = {1, 1, 1};
    p.dilation = {3, 1, 1};
    p.output_padding = {2, 0, 0};
    CHECK_NOTHROW(validate(p));
}

TEST_CASE("bad input shapes are rejected", "[validation]") {
    const Params p = valid_params();
    require_error([&] { output_shape(p, {4, 3, 3}); }, {"rank 3"});
    require_error([&] { output_shape(p, {1, 1, 4, 3, 3, 3}); }, {"rank 6"});
    require_error([&] { output_shape(p, {1, 5, 3, 3, 3}); }, {"5 channels", "in_channels=4"});
    require_error([&] { output_shape(p, {1, 4, 0, 3, 3}); }, {"non-positive"});
    Params big = p;
    big.padding = {20, 0, 0};
    require_error([&] { output_shape(big, {1, 4, 3, 3, 3}); }, {"output size", "D"});
    require_error([&] { output_shape(p, {INT64_MAX / 2, 4, 1000, 1000, 1000}); }, {"int64"});
}

TEST_CASE("bad buffers are rejected before any kernel runs", "[validation]") {
    const Params p = valid_params();
    const Shape in_shape{1, 4, 3, 3, 3};
    Tensor x(in_shape), w(weight_shape(p)), b(Shape{6}), out(output_shape(p, in_shape));
    x.fill(1);
    w.fill(1);
    b.fill(1);
    const ConstTensorView bv = b.view();
    auto call = [&](ConstTensorView xi, ConstTensorView wi, const ConstTensorView *bi, TensorView oi) {
        return [=] { conv_transpose3d(xi, wi, bi, oi, p); };
    };
    require_error(call({nullptr, in_shape}, w.view(), &bv, out.view()), {"input.data is null"});
    require_error(call(x.view(), {nullptr, w.shape()}, &bv, out.view()), {"weight.data is null"});
    require_error(call(x.view(), w.view(), &bv, {nullptr, out.shape()}), {"output.data is null"});
    require_error(call(x.view(), {w.data(), {4, 3, 3, 3, 2}}, &bv, out.view()), {"weight shape"});
    require_error(call(x.view(), w.view(), nullptr, out.view()), {"bias is required"});
    const ConstTensorView short_bias{b.data(), {5}};
    require_error(call(x.view(), w.view(), &short_bias, out.view()), {"bias shape"});
    require_error(call(x.view(), w.view(), &bv, {out.data(), {1, 6, 5, 5, 4}}), {"output shape"});
    require_error(call(x.view(), w.view(), &bv, {const_cast<float *>(x.data()), out.shape()}), {"overlaps"});
    const ConstTensorView bias_on_cuda{b.data(), {6}, Device::cuda};
    require_error(call(x.view(), w.view(), &bias_on_cuda, out.view()), {"bias is on cuda"});
    Params no_bias = p;
    no_bias.bias = false;
    require_error([&] { conv_transpose3d(x.view(), w.view(), &bv, out.view(), no_bias); }, {"bias=false"});
    // Nothing was written by the rejected calls.
    out.fill(-7);
    require_error(call(x.view(), w.view(), nullptr, out.view()), {"bias"});
    for (float v : out.to_vector()) REQUIRE(v == -7);
}

TEST_CASE("forcing an unsupported CPU ISA or unknown kernel is an error", "[validation]") {
    const Params p = valid_params();
    CHECK_THROWS_AS(choose_kernel(p, Device::cpu, {"k9s9", std::nullopt}), Error);
    CHECK(parse_cpu_isa("avx2") == CpuIsa::avx2);
    CHECK_FALSE(parse_cpu_isa("neon").has_value());
}
