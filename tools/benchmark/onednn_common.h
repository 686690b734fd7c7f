// What the oneDNN runners (forward: onednn_runner.cpp, backward: onednn_backward_runner.cpp)
// share: the CPU engine set-up and a case's deconvolution geometry in oneDNN's terms.
// Include only where CONVT3D_HAVE_ONEDNN is defined.
#pragma once

#include "suite.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>

namespace convt3d::bench {

// PyPI's oneDNN is a SYCL build: its CPU engine is the SYCL CPU device, which the DPC++
// runtime reaches through the OpenCL ICD loader. The pip packages ship Intel's OpenCL CPU
// runtime (libintelocl.so) but register it nowhere (/etc/OpenCL/vendors), so the loader must
// be pointed at it before the SYCL runtime first enumerates platforms.
inline void point_opencl_loader_at_cpu_runtime() {
#ifdef CONVT3D_ONEDNN_OPENCL_ICD
    setenv("OCL_ICD_FILENAMES", CONVT3D_ONEDNN_OPENCL_ICD, /*overwrite=*/0);
#endif
}

template<typename F>
void for_each_float(dnnl::memory &m, F &&f) {
    float *p = m.map_data<float>();
    const size_t n = m.get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < n; i++) f(p[i], i);
    m.unmap_data(p);
}

// A case's deconvolution in oneDNN's terms.
struct OnednnGeometry {
    dnnl::memory::dims src_dims, dst_dims, w_dims, strides, dilates, pad_l, pad_r;
    dnnl::memory::format_tag w_user_tag;  // PyTorch's weight layout

    OnednnGeometry(const SuiteCase &c, const CaseData &d) {
        using tag = dnnl::memory::format_tag;
        const Params &p = c.params;
        src_dims.assign(d.x_shape.begin(), d.x_shape.end());
        dst_dims.assign(d.y_shape.begin(), d.y_shape.end());
        const int64_t g = p.groups;
        const dnnl::memory::dim kd = p.kernel_size[0], kh = p.kernel_size[1], kw = p.kernel_size[2];
        // oneDNN's deconvolution weights are (O, I, k...) or, grouped, (G, O/G, I/G, k...) as
        // logical dims. PyTorch's ConvTranspose3d weight (Cin, Cout/g, k...) is, in memory,
        // input channels outside output channels: format tags iodhw and giodhw.
        w_dims = g == 1 ? dnnl::memory::dims{p.out_channels, p.in_channels, kd, kh, kw}
                        : dnnl::memory::dims{g, p.out_channels / g, p.in_channels / g, kd, kh, kw};
        w_user_tag = g == 1 ? tag::iodhw : tag::giodhw;
        strides.assign(p.stride.begin(), p.stride.end());
        for (int i = 0; i < 3; i++) {
            dilates.push_back(p.dilation[i] - 1);  // oneDNN counts dilation from 0
            pad_l.push_back(p.padding[i]);
            // The output is (in-1)*stride - pad_l - pad_r + dil*(k-1) + 1: output_padding
            // extends the right edge, so it reduces the right padding.
            pad_r.push_back(p.padding[i] - p.output_padding[i]);
        }
    }
};

}  // namespace convt3d::bench
