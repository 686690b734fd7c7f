// Uses the installed library: a 1x1x1 transposed convolution is a per-voxel matrix product,
// easy to check by hand.
#include <convt3d/convt3d.hpp>

#include <cmath>
#include <cstdio>

int main() {
    convt3d::Params p;
    p.in_channels = 2;
    p.out_channels = 3;
    p.kernel_size = {1, 1, 1};
    convt3d::ConvTranspose3d layer(p, /*seed=*/1);
    convt3d::Tensor x(convt3d::Shape{1, 2, 2, 3, 4});
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = 0.25f * float(i % 7) - 0.5f;
    const convt3d::Tensor y = layer.forward(x);

    const float *w = layer.weight().data(), *b = layer.bias()->data();
    const int64_t voxels = 2 * 3 * 4;
    double max_err = 0;
    for (int64_t co = 0; co < 3; co++) {
        for (int64_t v = 0; v < voxels; v++) {
            const double want = b[co] + double(x.data()[v]) * w[co] + double(x.data()[voxels + v]) * w[3 + co];
            max_err = std::fmax(max_err, std::fabs(y.data()[co * voxels + v] - want));
        }
    }
    std::printf("consumer: output %s, max error %.2e\n", convt3d::shape_to_string(y.shape()).c_str(), max_err);
    return max_err < 1e-5 ? 0 : 1;
}
