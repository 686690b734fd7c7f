// Every validation rule: convt3d::Error (not a crash, not another exception) whose message
// names the argument and its bad value; output_shape on hand-computed cases; BackendError
// for CUDA requests on a machine without a GPU.
#include "reference.h"
#include "test_support.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
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

// f must throw convt3d::Error whose message contains every fragment.
void require_error(const std::function<void()> &f, const std::vector<std::string> &fragments) {
    try {
        f();
        FAIL_CHECK("no error was raised; expected one mentioning '" << fragments.front() << "'");
    } catch (const Error &e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        for (const auto &frag : fragments) {
            INFO("expected fragment: '" << frag << "'");
            CHECK(msg.find(frag) != std::string::npos);
        }
    } catch (const std::exception &e) {
        FAIL_CHECK("expected convt3d::Error, got another exception: " << e.what());
    }
}

// The same bad parameters are caught by validate(), output_shape(), weight-free choose_kernel,
// the module's constructor and the functional call.
void require_param_error(const std::function<void(Params &)> &edit, const std::vector<std::string> &fragments) {
    Params p = valid_params();
    edit(p);
    INFO("validate");
    require_error([&] { validate(p); }, fragments);
    INFO("output_shape");
    require_error([&] { output_shape(p, {1, p.in_channels > 0 ? p.in_channels : 4, 3, 3, 3}); }, fragments);
    INFO("choose_kernel");
    require_error([&] { choose_kernel(p, Device::cpu); }, fragments);
    INFO("ConvTranspose3d");
    require_error([&] { ConvTranspose3d layer(p); }, fragments);
    INFO("conv_transpose3d");
    // Views that are fine for the valid parameters: the parameter check must come first.
    const Params ok = valid_params();
    Tensor x(Shape{1, 4, 3, 3, 3}), w(weight_shape(ok)), b(Shape{6}), out(output_shape(ok, x.shape()));
    x.fill(0);
    w.fill(0);
    b.fill(0);
    out.fill(-7);
    const ConstTensorView bv = b.view();
    require_error([&] { conv_transpose3d(x.view(), w.view(), p.bias ? &bv : nullptr, out.view(), p); }, fragments);
    for (float v : out.to_vector()) REQUIRE(v == -7);  // nothing written
}

}  // namespace

TEST_CASE("output_shape follows the formula", "[validation]") {
    const Params p = testing::seed_example_params();
    // The seed example: D = 9*2 - 0 + 2 + 1 = 21, H = 49 - 8 + 4 + 1 = 46, W = 99 - 4 + 1 + 1 = 97.
    CHECK(output_shape(p, {20, 16, 10, 50, 100}) == Shape{20, 33, 21, 46, 97});
    CHECK(output_shape(p, {16, 10, 50, 100}) == Shape{33, 21, 46, 97});  // unbatched
    CHECK(weight_shape(p) == Shape{16, 33, 3, 5, 2});

    Params q = valid_params();  // 4 -> 6, k3, s2, p1, groups 2
    q.output_padding = {1, 0, 1};
    q.dilation = {1, 2, 1};
    // (5-1)*2 - 2 + d*(3-1) + op + 1
    CHECK(output_shape(q, {2, 4, 5, 5, 5}) == Shape{2, 6, 10, 11, 10});
    CHECK(output_shape(q, {4, 5, 5, 5}) == Shape{6, 10, 11, 10});
    CHECK(weight_shape(q) == Shape{4, 3, 3, 3, 3});

    Params r;  // defaults: kernel 1, stride 1: the spatial shape is unchanged
    r.in_channels = 3;
    r.out_channels = 5;
    CHECK(output_shape(r, {7, 3, 1, 2, 9}) == Shape{7, 5, 1, 2, 9});
    r.kernel_size = {4, 4, 4};
    r.stride = {2, 2, 2};
    r.padding = {1, 1, 1};  // the GAN doubling: 2 * in
    CHECK(output_shape(r, {1, 3, 4, 8, 16}) == Shape{1, 5, 8, 16, 32});
    r.kernel_size = {1, 2, 3};
    r.stride = {4, 3, 1};
    r.padding = {0, 0, 1};
    r.output_padding = {3, 2, 0};
    r.dilation = {1, 1, 3};
    // D: 1*4 + 0 + 3 + 1 = 8; H: 2*3 + 1 + 2 + 1 = 10; W: 4*1 - 2 + 3*2 + 0 + 1 = 9
    CHECK(output_shape(r, {3, 2, 3, 5}) == Shape{5, 8, 10, 9});
    // Cropped to a single element: (1-1)*1 - 2 + 2 + 0 + 1.
    Params one = valid_params();
    one.stride = {1, 1, 1};
    CHECK(output_shape(one, {1, 4, 1, 1, 1}) == Shape{1, 6, 1, 1, 1});
}

TEST_CASE("multiply_adds counts the products that land inside the output", "[validation]") {
    // Without padding every (input position, tap) pair lands inside.
    const Params unet = testing::make_params(8, 4, {2, 2, 2}, {2, 2, 2});
    CHECK(multiply_adds(unet, {3, 8, 4, 5, 6}) == 3.0 * 8 * 4 * (4 * 5 * 6) * 8);
    CHECK(multiply_adds(unet, {8, 4, 5, 6}) == 8.0 * 4 * (4 * 5 * 6) * 8);  // unbatched
    // k4 s2 p1 on 4 positions: o = 2i - 1 + k crops (i, k) = (0, 0) and (3, 3): 14 of 16 per axis.
    const Params gan = testing::make_params(2, 6, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, /*groups=*/2);
    CHECK(multiply_adds(gan, {1, 2, 4, 4, 4}) == 2.0 * 3 * 14 * 14 * 14);
    // The seed example: H crops 20 of 50*5 pairs, W 6 of 100*2, D none.
    CHECK(multiply_adds(testing::seed_example_params(), {20, 16, 10, 50, 100}) ==
          20.0 * 16 * 33 * (10 * 3) * (50 * 5 - 20) * (100 * 2 - 6));
    // Dilation 2, padding 2 on 16 positions: taps 0 and 2 each lose 2 positions.
    const Params dilated = testing::make_params(1, 1, {3, 3, 3}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}, 1, true, {2, 2, 2});
    CHECK(multiply_adds(dilated, {1, 1, 16, 16, 16}) == 44.0 * 44 * 44);
}

TEST_CASE("bad hyper-parameters are rejected with the argument named", "[validation]") {
    require_param_error([](Params &p) { p.in_channels = 0; }, {"in_channels", "0"});
    require_param_error([](Params &p) { p.in_channels = -4; }, {"in_channels", "-4"});
    require_param_error([](Params &p) { p.out_channels = -3; }, {"out_channels", "-3"});
    require_param_error([](Params &p) { p.out_channels = 0; }, {"out_channels", "0"});
    require_param_error([](Params &p) { p.groups = 0; }, {"groups", "0"});
    require_param_error([](Params &p) { p.groups = -2; }, {"groups", "-2"});
    require_param_error([](Params &p) { p.groups = 3; }, {"groups=3", "in_channels=4"});
    require_param_error([](Params &p) { p.groups = 4; }, {"groups=4", "out_channels=6"});
    require_param_error([](Params &p) { p.kernel_size = {3, 0, 3}; }, {"kernel_size", "0"});
    require_param_error([](Params &p) { p.kernel_size = {-2, 3, 3}; }, {"kernel_size", "-2"});
    require_param_error([](Params &p) { p.stride = {2, 2, -1}; }, {"stride", "-1"});
    require_param_error([](Params &p) { p.stride = {0, 2, 2}; }, {"stride", "0"});
    require_param_error([](Params &p) { p.dilation = {0, 1, 1}; }, {"dilation", "0"});
    require_param_error([](Params &p) { p.dilation = {1, 1, -3}; }, {"dilation", "-3"});
    require_param_error([](Params &p) { p.padding = {0, -1, 0}; }, {"padding", "-1"});
    require_param_error([](Params &p) { p.output_padding = {-1, 0, 0}; }, {"output_padding", "-1"});
    // output_padding must be smaller than stride or dilation (PyTorch's rule).
    require_param_error([](Params &p) { p.output_padding = {2, 0, 0}; },
                        {"output_padding", "2", "stride", "dilation"});
    require_param_error([](Params &p) { p.stride = {1, 1, 1}; p.output_padding = {0, 0, 1}; },
                        {"output_padding", "stride", "dilation"});
    require_param_error([](Params &p) { p.dilation = {1, 3, 1}; p.output_padding = {0, 3, 0}; },
                        {"output_padding", "3"});
    require_param_error([](Params &p) { p.padding_mode = "reflect"; }, {"padding_mode", "reflect"});
    require_param_error([](Params &p) { p.padding_mode = "circular"; }, {"padding_mode", "circular"});
    require_param_error([](Params &p) { p.padding_mode = ""; }, {"padding_mode"});
    // Sizes whose arithmetic overflows int64 are rejected, not wrapped.
    require_param_error([](Params &p) { p.dilation = {INT64_MAX / 2, 1, 1}; }, {"overflow"});
    require_param_error([](Params &p) { p.padding = {1, INT64_MAX / 2 + 1, 1}; }, {"overflow"});
    require_param_error([](Params &p) { p.in_channels = p.out_channels = p.groups = INT64_MAX / 4 * 2;
                                        p.kernel_size = {1 << 20, 1 << 20, 1 << 20}; },
                        {"weight", "int64"});
}

TEST_CASE("legal corner values are accepted", "[validation]") {
    Params p = valid_params();
    p.stride = {1, 1, 1};
    p.dilation = {3, 1, 1};
    p.output_padding = {2, 0, 0};  // stride 1 but dilation 3
    CHECK_NOTHROW(validate(p));
    p = valid_params();
    p.output_padding = {1, 1, 1};  // stride 2
    CHECK_NOTHROW(validate(p));
    p.padding = {9, 9, 9};  // large padding is legal; only the output size can make it fail
    CHECK_NOTHROW(validate(p));
    p.groups = 1;
    CHECK_NOTHROW(validate(p));
    p.in_channels = p.out_channels = p.groups = 6;  // depthwise
    CHECK_NOTHROW(validate(p));
    p.bias = false;
    CHECK_NOTHROW(validate(p));
}

TEST_CASE("bad input shapes are rejected", "[validation]") {
    const Params p = valid_params();
    require_error([&] { output_shape(p, {4, 3, 3}); }, {"rank 3"});
    require_error([&] { output_shape(p, {}); }, {"rank 0"});
    require_error([&] { output_shape(p, {1, 1, 4, 3, 3, 3}); }, {"rank 6"});
    require_error([&] { output_shape(p, {1, 5, 3, 3, 3}); }, {"5 channels", "in_channels=4"});
    require_error([&] { output_shape(p, {3, 3, 3, 3}); }, {"3 channels", "in_channels=4"});  // unbatched
    require_error([&] { output_shape(p, {1, 4, 0, 3, 3}); }, {"non-positive", "(1, 4, 0, 3, 3)"});
    require_error([&] { output_shape(p, {0, 4, 3, 3, 3}); }, {"non-positive"});
    require_error([&] { output_shape(p, {1, 4, 3, -2, 3}); }, {"non-positive", "-2"});
    require_error([&] { output_shape(p, {4, 3, 3, -1}); }, {"non-positive", "-1"});

    // Padding so large that the output is empty or negative.
    Params big = p;
    big.padding = {20, 0, 0};
    require_error([&] { output_shape(big, {1, 4, 3, 3, 3}); }, {"output size", "D", "-33"});
    big.padding = {0, 0, 3};  // W: (3-1)*2 - 6 + 2 + 1 = 1: fine
    CHECK(output_shape(big, {1, 4, 3, 3, 3})[4] == 1);
    big.padding = {0, 2, 4};  // W: 4 - 8 + 3 = -1 (H: 4 - 4 + 3 = 3 is fine)
    require_error([&] { output_shape(big, {1, 4, 3, 3, 3}); }, {"output size", "W", "-1"});
    Params zero = p;
    zero.stride = {1, 1, 1};
    zero.padding = {0, 2, 0};  // H: (1-1)*1 - 4 + 2 + 1 = -1
    require_error([&] { output_shape(zero, {1, 4, 1, 1, 1}); }, {"output size", "H"});

    // Huge extents: int64 overflow in the element count or the output size.
    require_error([&] { output_shape(p, {INT64_MAX / 2, 4, 1000, 1000, 1000}); }, {"int64"});
    require_error([&] { output_shape(p, {1, 4, INT64_MAX / 2, 1, 1}); }, {"int64"});
    Params wide = p;
    wide.stride = {1, 1, INT64_MAX / 4};
    require_error([&] { output_shape(wide, {1, 4, 1, 1, 9}); }, {"overflow"});
    CHECK_THROWS_AS(numel({1 << 30, 1 << 30, 1 << 30}), Error);
    CHECK(numel({2, 3, 4}) == 24);
    require_error([&] { numel({2, 0, 4}, "thing"); }, {"thing", "non-positive"});
}

TEST_CASE("bad buffers are rejected before any kernel runs", "[validation]") {
    const Params p = valid_params();
    const Shape in_shape{1, 4, 3, 3, 3};
    Tensor x(in_shape), w(weight_shape(p)), b(Shape{6}), out(output_shape(p, in_shape));
    x.fill(1);
    w.fill(1);
    b.fill(1);
    out.fill(-7);
    const ConstTensorView bv = b.view();
    auto call = [&](ConstTensorView xi, ConstTensorView wi, const ConstTensorView *bi, TensorView oi,
                    const Params &q) { return [=] { conv_transpose3d(xi, wi, bi, oi, q); }; };
    auto call_p = [&](ConstTensorView xi, ConstTensorView wi, const ConstTensorView *bi, TensorView oi) {
        return call(xi, wi, bi, oi, p);
    };
    // Null data.
    require_error(call_p({nullptr, in_shape}, w.view(), &bv, out.view()), {"input", "null"});
    require_error(call_p(x.view(), {nullptr, w.shape()}, &bv, out.view()), {"weight", "null"});
    require_error(call_p(x.view(), w.view(), &bv, {nullptr, out.shape()}), {"output", "null"});
    const ConstTensorView null_bias{nullptr, {6}};
    require_error(call_p(x.view(), w.view(), &null_bias, out.view()), {"bias", "null"});
    // Input shape problems reach the functional call too.
    require_error(call_p({x.data(), {1, 5, 3, 3, 3}}, w.view(), &bv, out.view()), {"5 channels", "in_channels=4"});
    require_error(call_p({x.data(), {4, 3, 3}}, w.view(), &bv, out.view()), {"rank 3"});
    // Weight shape.
    require_error(call_p(x.view(), {w.data(), {4, 3, 3, 3, 2}}, &bv, out.view()), {"weight", "(4, 3, 3, 3, 2)"});
    require_error(call_p(x.view(), {w.data(), {4, 6, 3, 3, 3}}, &bv, out.view()), {"weight", "(4, 3, 3, 3, 3)"});
    require_error(call_p(x.view(), {w.data(), {4, 3, 3, 3}}, &bv, out.view()), {"weight"});
    // Bias: missing, unexpected, wrong shape.
    require_error(call_p(x.view(), w.view(), nullptr, out.view()), {"bias", "required"});
    const ConstTensorView short_bias{b.data(), {5}};
    require_error(call_p(x.view(), w.view(), &short_bias, out.view()), {"bias", "(5)"});
    const ConstTensorView bias_2d{b.data(), {1, 6}};
    require_error(call_p(x.view(), w.view(), &bias_2d, out.view()), {"bias", "(1, 6)"});
    Params no_bias = p;
    no_bias.bias = false;
    require_error(call(x.view(), w.view(), &bv, out.view(), no_bias), {"bias", "bias=false"});
    // Output shape.
    require_error(call_p(x.view(), w.view(), &bv, {out.data(), {1, 6, 5, 5, 4}}), {"output", "(1, 6, 5, 5, 4)"});
    require_error(call_p(x.view(), w.view(), &bv, {out.data(), {6, 5, 5, 5}}), {"output", "(6, 5, 5, 5)"});
    // Output overlapping an input.
    // (the input aliases the output's buffer, which is the larger one, so a missed check
    // could not write out of bounds; the -7 check below would see the write)
    require_error(call_p({out.data(), in_shape}, w.view(), &bv, out.view()), {"overlaps"});
    // Views on different devices (checked before any CUDA work, so also without a GPU).
    const ConstTensorView bias_on_cuda{b.data(), {6}, Device::cuda};
    require_error(call_p(x.view(), w.view(), &bias_on_cuda, out.view()), {"bias", "cuda", "cpu"});
    require_error(call_p(x.view(), {w.data(), w.shape(), Device::cuda}, &bv, out.view()), {"weight", "cuda"});
    require_error(call_p(x.view(), w.view(), &bv, {out.data(), out.shape(), Device::cuda}), {"output", "cuda"});
    require_error(call_p({x.data(), x.shape(), Device::cuda}, w.view(), &bv, out.view()), {"weight", "cpu", "cuda"});
    // Forcing a kernel that does not apply, or an unknown one.
    require_error([&] { conv_transpose3d(x.view(), w.view(), &bv, out.view(), p, {"k2s2", std::nullopt}); },
                  {"k2s2"});
    require_error([&] { conv_transpose3d(x.view(), w.view(), &bv, out.view(), p, {"k9s9", std::nullopt}); },
                  {"k9s9"});
    // None of the rejected calls wrote anything.
    for (float v : out.to_vector()) REQUIRE(v == -7);
    // And the valid call works.
    CHECK_NOTHROW(conv_transpose3d(x.view(), w.view(), &bv, out.view(), p));
    for (float v : out.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("Tensor and module arguments are validated", "[validation]") {
    require_error([] { Tensor::from_vector({1, 2, 3}, {2, 2}); }, {"3 values", "(2, 2)"});
    require_error([] { Tensor t(Shape{2, 0}); }, {"non-positive"});
    require_error([] { Tensor().to(Device::cpu); }, {"undefined"});
    const Params p = valid_params();
    ConvTranspose3d layer(p);
    Tensor x(Shape{1, 5, 2, 2, 2});
    x.fill(0);
    require_error([&] { layer.forward(x); }, {"5 channels", "in_channels=4"});
    require_error([&] { layer.output_shape({4, 2}); }, {"rank 2"});
    require_error([&] { layer.forward(Tensor(Shape{1, 4, 2, 2, 2}), {"k4s2", std::nullopt}); }, {"k4s2"});
}

TEST_CASE("forcing an unsupported CPU ISA or unknown kernel is an error", "[validation]") {
    const Params p = valid_params();
    require_error([&] { choose_kernel(p, Device::cpu, {"k9s9", std::nullopt}); }, {"kernel", "k9s9"});
    require_error([&] { choose_kernel(p, Device::cpu, {"k2s2", std::nullopt}); }, {"kernel", "k2s2"});
    CHECK(parse_cpu_isa("avx2") == CpuIsa::avx2);
    CHECK(parse_cpu_isa("avx512") == CpuIsa::avx512);
    CHECK(parse_cpu_isa("sse41") == CpuIsa::sse41);
    CHECK_FALSE(parse_cpu_isa("neon").has_value());
    CHECK_FALSE(parse_cpu_isa("").has_value());
    CHECK(std::string(to_string(CpuIsa::avx2)) == "avx2");
    CHECK(cpu_supports(CpuIsa::sse41));  // the baseline the library requires
    CHECK(cpu_supports(best_cpu_isa()));
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41}) {
        INFO(to_string(isa));
        if (cpu_supports(isa)) {
            CHECK(choose_kernel(p, Device::cpu, {"", isa}).cpu_isa == isa);
        } else {
            require_error([&] { choose_kernel(p, Device::cpu, {"", isa}); }, {to_string(isa)});
        }
    }
}

TEST_CASE("CUDA requests without a GPU fail with BackendError, not a crash", "[validation][cuda]") {
    if (cuda_available()) {
        WARN("a CUDA device is present: the no-GPU error path is not exercised here (test_forward_cuda runs)");
        CHECK(cuda_available());
        return;
    }
    CHECK_THROWS_AS(Tensor(Shape{2, 3}, Device::cuda), BackendError);
    Tensor host(Shape{2, 3});
    host.fill(1);
    CHECK_THROWS_AS(host.to(Device::cuda), BackendError);
    const Params p = valid_params();
    ConvTranspose3d layer(p);
    CHECK_THROWS_AS(layer.to(Device::cuda), BackendError);
    CHECK(layer.device() == Device::cpu);  // still usable on the CPU
    Tensor x(Shape{1, 4, 2, 2, 2});
    x.fill(1);
    CHECK_NOTHROW(layer.forward(x));
    // Valid views all claiming to be on the GPU: the parameters are fine, so the failure is
    // the backend's, and it must be a BackendError whose message says CUDA.
    Tensor w(weight_shape(p)), b(Shape{6}), out(output_shape(p, x.shape()));
    const ConstTensorView bc{b.data(), b.shape(), Device::cuda};
    try {
        conv_transpose3d(ConstTensorView{x.data(), x.shape(), Device::cuda},
                         ConstTensorView{w.data(), w.shape(), Device::cuda}, &bc,
                         TensorView{out.data(), out.shape(), Device::cuda}, p);
        FAIL_CHECK("no error for a CUDA call without a GPU");
    } catch (const BackendError &e) {
        std::string msg = e.what();
        INFO(msg);
        std::transform(msg.begin(), msg.end(), msg.begin(), [](unsigned char ch) { return std::tolower(ch); });
        CHECK(msg.find("cuda") != std::string::npos);
    }
    // Invalid arguments are still reported as such, before the backend is touched.
    Params bad = p;
    bad.groups = 5;
    CHECK_THROWS_AS(conv_transpose3d(ConstTensorView{x.data(), x.shape(), Device::cuda},
                                     ConstTensorView{w.data(), w.shape(), Device::cuda}, &bc,
                                     TensorView{out.data(), out.shape(), Device::cuda}, bad),
                    Error);
}
