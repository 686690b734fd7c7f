#include "onednn_runner.h"

#include <algorithm>
#include <chrono>
#include <random>

#ifdef CONVT3D_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace convt3d::bench {

#ifndef CONVT3D_HAVE_ONEDNN

double onednn_median_ms(const SuiteCase &, int, std::string *why) {
    *why = "oneDNN not found at build time";
    return -1;
}
std::string onednn_version() { return "unavailable"; }

#else

std::string onednn_version() {
    const dnnl_version_t *v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

double onednn_median_ms(const SuiteCase &c, int repeats, std::string *why) {
    using namespace dnnl;
    using tag = memory::format_tag;
    using dt = memory::data_type;
    try {
        const Params &p = c.params;
        engine eng(engine::kind::cpu, 0);
        stream s(eng);
        const Shape out_shape = output_shape(p, c.input_shape);
        const memory::dims src_dims(c.input_shape.begin(), c.input_shape.end());
        const memory::dims dst_dims(out_shape.begin(), out_shape.end());
        const int64_t g = p.groups;
        const memory::dims w_dims =
            g == 1 ? memory::dims{p.out_channels, p.in_channels, p.kernel_size[0], p.kernel_size[1], p.kernel_size[2]}
                   : memory::dims{g, p.out_channels / g, p.in_channels / g, p.kernel_size[0], p.kernel_size[1],
                                  p.kernel_size[2]};
        // PyTorch's weight (Cin, Cout/g, k...) is oneDNN's "io" order.
        const tag w_user_tag = g == 1 ? tag::iodhw : tag::giodhw;
        memory::dims strides(p.stride.begin(), p.stride.end());
        memory::dims dilates, pad_l, pad_r;
        for (int i = 0; i < 3; i++) {
            dilates.push_back(p.dilation[i] - 1);
            pad_l.push_back(p.padding[i]);
            pad_r.push_back(p.padding[i] - p.output_padding[i]);
        }
        const memory::desc src_any(src_dims, dt::f32, tag::any), dst_any(dst_dims, dt::f32, tag::any),
            w_any(w_dims, dt::f32, tag::any), b_md({p.out_channels}, dt::f32, tag::a);
        auto d = p.bias ? deconvolution_forward::desc(prop_kind::forward_inference, algorithm::deconvolution_direct,
                                                      src_any, w_any, b_md, dst_any, strides, dilates, pad_l, pad_r)
                        : deconvolution_forward::desc(prop_kind::forward_inference, algorithm::deconvolution_direct,
                                                      src_any, w_any, dst_any, strides, dilates, pad_l, pad_r);
        deconvolution_forward::primitive_desc pd(d, eng);

        std::mt19937 rng(1);
        std::uniform_real_distribution<float> u(-1, 1);
        auto filled = [&](const memory::desc &md) {
            memory m(md, eng);
            float *ptr = static_cast<float *>(m.get_data_handle());
            for (size_t i = 0; i < md.get_size() / sizeof(float); i++) ptr[i] = u(rng);
            return m;
        };
        memory src_user = filled(memory::desc(src_dims, dt::f32, tag::ncdhw));
        memory dst_user(memory::desc(dst_dims, dt::f32, tag::ncdhw), eng);
        memory w_user = filled(memory::desc(w_dims, dt::f32, w_user_tag));
        memory bias = filled(b_md);
        memory w = w_user;
        if (pd.weights_desc() != w_user.get_desc()) {
            w = memory(pd.weights_desc(), eng);
            reorder(w_user, w).execute(s, w_user, w);
        }
        const bool src_reorder = pd.src_desc() != src_user.get_desc();
        const bool dst_reorder = pd.dst_desc() != dst_user.get_desc();
        memory src = src_reorder ? memory(pd.src_desc(), eng) : src_user;
        memory dst = dst_reorder ? memory(pd.dst_desc(), eng) : dst_user;
        deconvolution_forward conv(pd);
        std::optional<reorder> to_src, from_dst;
        if (src_reorder) to_src = reorder(src_user, src);
        if (dst_reorder) from_dst = reorder(dst, dst_user);

        std::vector<double> times;
        for (int i = 0; i <= repeats; i++) {
            const auto t0 = std::chrono::steady_clock::now();
            if (to_src) to_src->execute(s, src_user, src);
            conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
            if (from_dst) from_dst->execute(s, dst, dst_user);
            s.wait();
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (i > 0) times.push_back(ms);  // the first run is a warm-up
        }
        std::sort(times.begin(), times.end());
        *why = pd.impl_info_str();
        return times[times.size() / 2];
    } catch (const std::exception &e) {
        *why = e.what();
        return -1;
    }
}

#endif

}  // namespace convt3d::bench
