// The scatter form shared by the forward and backward references: every (input element,
// weight element, output element) triple that ConvTranspose3d connects, found by walking
// the input and the kernel taps. Output sizes come from the formula, not from the library.
#pragma once

#include "convt3d/convt3d.hpp"

#include <cstdint>

namespace convt3d::reference {

struct Geometry {
    int64_t N, C, D, H, W;       // input (N = 1 when unbatched)
    int64_t CO, OD, OH, OW;      // output
    int64_t KD, KH, KW;
    int64_t cin_g, cout_g;       // channels per group
    int64_t out_item_size;       // CO * OD * OH * OW
    Geometry(const Params &p, const Shape &input_shape, const Shape &out_shape) {
        const size_t c = input_shape.size() - 4;
        N = c ? input_shape[0] : 1;
        C = input_shape[c], D = input_shape[c + 1], H = input_shape[c + 2], W = input_shape[c + 3];
        CO = out_shape[c], OD = out_shape[c + 1], OH = out_shape[c + 2], OW = out_shape[c + 3];
        KD = p.kernel_size[0], KH = p.kernel_size[1], KW = p.kernel_size[2];
        cin_g = C / p.groups, cout_g = CO / p.groups;
        out_item_size = CO * OD * OH * OW;
    }
};

// Calls visit(in_at, w_at, out_at) for every connection of batch item n, where the forward
// pass adds input[in_at] * weight[w_at] into output[out_at]; in_at indexes the whole input,
// out_at the item's own output (CO, OD, OH, OW). Input elements in order, then output channels
// of their group, then kernel taps.
template<typename Visit>
void for_each_connection(const Params &p, const Geometry &g, int64_t n, Visit &&visit) {
    for (int64_t ci = 0; ci < g.C; ci++) {
        const int64_t group = ci / g.cin_g;
        for (int64_t id = 0; id < g.D; id++)
        for (int64_t ih = 0; ih < g.H; ih++)
        for (int64_t iw = 0; iw < g.W; iw++) {
            const int64_t in_at = (((n * g.C + ci) * g.D + id) * g.H + ih) * g.W + iw;
            for (int64_t cg = 0; cg < g.cout_g; cg++) {
                const int64_t co = group * g.cout_g + cg;
                const int64_t w_base = (ci * g.cout_g + cg) * g.KD * g.KH * g.KW;
                for (int64_t kd = 0; kd < g.KD; kd++) {
                    const int64_t od = id * p.stride[0] - p.padding[0] + kd * p.dilation[0];
                    if (od < 0 || od >= g.OD) continue;
                    for (int64_t kh = 0; kh < g.KH; kh++) {
                        const int64_t oh = ih * p.stride[1] - p.padding[1] + kh * p.dilation[1];
                        if (oh < 0 || oh >= g.OH) continue;
                        for (int64_t kw = 0; kw < g.KW; kw++) {
                            const int64_t ow = iw * p.stride[2] - p.padding[2] + kw * p.dilation[2];
                            if (ow < 0 || ow >= g.OW) continue;
                            visit(in_at, w_base + (kd * g.KH + kh) * g.KW + kw, ((co * g.OD + od) * g.OH + oh) * g.OW + ow);
                        }
                    }
                }
            }
        }
    }
}

}  // namespace convt3d::reference
