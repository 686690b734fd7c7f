// Double-precision ConvTranspose3d in the scatter form: every input element adds its
// products into the outputs it touches. Deliberately different from the kernels' gather
// form, and computing the output shape from the formula itself.
#pragma once

#include "convt3d/convt3d.hpp"

#include <vector>

namespace convt3d::reference {

// Output shape from D_out = (D_in-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1.
Shape output_shape(const Params &p, const Shape &input_shape);

// input: rank 5 (N,C,D,H,W) or 4 (C,D,H,W); weight (Cin, Cout/groups, kD, kH, kW);
// bias: out_channels values or empty. Only batch items [batch_begin, batch_end) are
// computed (end < 0: all); the result holds just those items.
std::vector<double> forward(const Params &p, const Shape &input_shape, const std::vector<float> &input,
                            const std::vector<float> &weight, const std::vector<float> &bias,
                            int64_t batch_begin = 0, int64_t batch_end = -1);

}  // namespace convt3d::reference
