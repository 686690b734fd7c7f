#include "convt3d/convt3d.hpp"

#include <cmath>
#include <random>

namespace convt3d {

ConvTranspose3d::ConvTranspose3d(const Params &p, uint64_t seed) : params_(p) {
    validate(params_);
    reset_parameters(seed);
}

void ConvTranspose3d::reset_parameters(uint64_t seed) {
    // torch.nn.ConvTranspose3d: kaiming_uniform_(a=sqrt(5)) on the weight, whose fan_in is
    // (out_channels / groups) * kD*kH*kW, gives U(-sqrt(k), sqrt(k)) with
    // k = groups / (out_channels * kD*kH*kW); the bias uses the same bound.
    const double k = static_cast<double>(params_.groups) /
                     (static_cast<double>(params_.out_channels) * params_.kernel_size[0] *
                      params_.kernel_size[1] * params_.kernel_size[2]);
    const float bound = static_cast<float>(std::sqrt(k));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uniform(-bound, bound);
    const Device device = weight_.defined() ? weight_.device() : Device::cpu;

    Tensor w(weight_shape(params_));
    for (int64_t i = 0; i < w.numel(); i++) w.data()[i] = uniform(rng);
    weight_ = w.to(device);
    if (params_.bias) {
        Tensor b(Shape{params_.out_channels});
        for (int64_t i = 0; i < b.numel(); i++) b.data()[i] = uniform(rng);
        bias_ = b.to(device);
    }
}

ConvTranspose3d &ConvTranspose3d::to(Device device) {
    if (device == weight_.device()) return *this;
    weight_ = weight_.to(device);
    if (params_.bias) bias_ = bias_.to(device);
    return *this;
}

Shape ConvTranspose3d::output_shape(const Shape &input_shape) const {
    return convt3d::output_shape(params_, input_shape);
}

Tensor ConvTranspose3d::forward(const Tensor &input, const DispatchOptions &opts) const {
    if (input.device() != device()) {
        throw Error(std::string("convt3d: input is on ") + to_string(input.device()) + " but the module is on " +
                    to_string(device()) + "; call to() first");
    }
    return conv_transpose3d(input, weight_, bias(), params_, opts);
}

}  // namespace convt3d
