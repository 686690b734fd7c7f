// The C ABI: statuses and messages instead of exceptions.
#include "convt3d/convt3d.h"

#include "reference.h"
#include "test_support.h"

#include <catch2/catch.hpp>

#include <string>

TEST_CASE("C API: defaults, output shape, forward", "[c_api]") {
    convt3d_params p;
    convt3d_params_init(&p, 4, 6, 2, 3, 2);
    CHECK(p.stride[0] == 1);
    CHECK(p.dilation[2] == 1);
    CHECK(p.groups == 1);
    CHECK(p.bias == 1);
    CHECK(std::string(p.padding_mode) == "zeros");
    p.stride[0] = 2;

    const int64_t in_shape[5] = {2, 4, 3, 4, 5};
    int64_t out_shape[5] = {};
    int rank = 0;
    REQUIRE(convt3d_output_shape(&p, in_shape, 5, out_shape, &rank) == CONVT3D_OK);
    REQUIRE(rank == 5);
    CHECK(out_shape[2] == 6);
    CHECK(out_shape[3] == 6);
    CHECK(out_shape[4] == 6);

    std::mt19937 rng(3);
    const auto x = convt3d::testing::random_values(rng, 2 * 4 * 3 * 4 * 5);
    const auto w = convt3d::testing::random_values(rng, 4 * 6 * 2 * 3 * 2);
    const auto b = convt3d::testing::random_values(rng, 6);
    const int64_t n_out = 2 * 6 * 6 * 6 * 6;
    std::vector<float> y(n_out, std::nanf(""));
    REQUIRE(convt3d_forward(&p, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), b.data(), y.data(), n_out) ==
            CONVT3D_OK);
    convt3d::Params q;
    q.in_channels = 4;
    q.out_channels = 6;
    q.kernel_size = {2, 3, 2};
    q.stride = {2, 1, 1};
    const auto ref = convt3d::reference::forward(q, {2, 4, 3, 4, 5}, x, w, b);
    const auto cmp = convt3d::testing::compare(y, ref);
    CHECK(cmp.non_finite == 0);
    CHECK(cmp.max_error < 1e-5);
}

TEST_CASE("C API: errors come back as statuses with a message", "[c_api]") {
    convt3d_params p;
    convt3d_params_init(&p, 4, 6, 2, 2, 2);
    const int64_t in_shape[5] = {1, 4, 2, 2, 2};
    int64_t out_shape[5];
    std::vector<float> x(32, 1), w(4 * 6 * 8, 1), b(6, 1), y(6 * 27);

    auto expect = [](convt3d_status s, convt3d_status want, const char *fragment) {
        CHECK(s == want);
        INFO("message: " << convt3d_last_error());
        CHECK(std::string(convt3d_last_error()).find(fragment) != std::string::npos);
    };
    expect(convt3d_output_shape(nullptr, in_shape, 5, out_shape, nullptr), CONVT3D_INVALID_ARGUMENT, "params");
    expect(convt3d_output_shape(&p, nullptr, 5, out_shape, nullptr), CONVT3D_INVALID_ARGUMENT, "input_shape");
    expect(convt3d_output_shape(&p, in_shape, 3, out_shape, nullptr), CONVT3D_INVALID_ARGUMENT, "input_rank=3");
    convt3d_params bad = p;
    bad.groups = 4;
    bad.out_channels = 6;
    expect(convt3d_output_shape(&bad, in_shape, 5, out_shape, nullptr), CONVT3D_INVALID_ARGUMENT, "groups=4");
    bad = p;
    bad.padding_mode = "circular";
    expect(convt3d_output_shape(&bad, in_shape, 5, out_shape, nullptr), CONVT3D_INVALID_ARGUMENT, "circular");

    expect(convt3d_forward(&p, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), b.data(), y.data(), 7),
           CONVT3D_INVALID_ARGUMENT, "output_numel=7");
    expect(convt3d_forward(&p, CONVT3D_DEVICE_CPU, nullptr, in_shape, 5, w.data(), b.data(), y.data(), 6 * 27),
           CONVT3D_INVALID_ARGUMENT, "input.data is null");
    expect(convt3d_forward(&p, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), nullptr, y.data(), 6 * 27),
           CONVT3D_INVALID_ARGUMENT, "bias is null");
    expect(convt3d_forward(&p, static_cast<convt3d_device>(7), x.data(), in_shape, 5, w.data(), b.data(), y.data(),
                           6 * 27),
           CONVT3D_INVALID_ARGUMENT, "device=7");
    if (!convt3d::cuda_available()) {  // host pointers never reach a kernel: no device is found first
        expect(convt3d_forward(&p, CONVT3D_DEVICE_CUDA, x.data(), in_shape, 5, w.data(), b.data(), y.data(), 6 * 27),
               CONVT3D_BACKEND_ERROR, "CUDA");
    }
    REQUIRE(convt3d_forward(&p, CONVT3D_DEVICE_CPU, x.data(), in_shape, 5, w.data(), b.data(), y.data(), 6 * 27) ==
            CONVT3D_OK);
    CHECK(std::string(convt3d_last_error()).empty());
}
