// oneDNN's deconvolution forward on the same case and data, for the side-by-side comparison.
// Builds against oneDNN 2.x (Debian's 2.6: operation descriptors) and 3.x (PyPI's 2026.1:
// primitive descriptors built directly); tools/benchmark/CMakeLists.txt says which is used.
#include "runners.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

#ifdef CONVT3D_HAVE_ONEDNN
#include "onednn_common.h"
#endif

namespace convt3d::bench {

#ifndef CONVT3D_HAVE_ONEDNN

RunResult run_onednn(const SuiteCase &, const CaseData &, int) { return did_not_run("oneDNN not found at build time"); }

std::string onednn_description() { return "unavailable (not found at build time)"; }

#else

namespace {

const char *runtime_name(unsigned r) {
    switch (r) {
    case DNNL_RUNTIME_SEQ: return "sequential";
    case DNNL_RUNTIME_OMP: return "OpenMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
#ifdef DNNL_RUNTIME_SYCL
    case DNNL_RUNTIME_SYCL: return "SYCL";
#endif
    default: return "other";
    }
}

}  // namespace

std::string onednn_description() {
    point_opencl_loader_at_cpu_runtime();
    const dnnl_version_t *v = dnnl_version();
    std::string s = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                    std::to_string(v->patch) + " (CPU runtime " + runtime_name(v->cpu_runtime) + ")";
    try {
        dnnl::engine eng(dnnl::engine::kind::cpu, 0);
        dnnl::stream s0(eng);
    } catch (const std::exception &e) {
        s += ", CPU engine unavailable: " + std::string(e.what());
    }
    return s;
}

RunResult run_onednn(const SuiteCase &c, const CaseData &d, int repeats) {
    using namespace dnnl;
    using tag = memory::format_tag;
    using dt = memory::data_type;
    return guarded_run([&](RunResult &r) {
        point_opencl_loader_at_cpu_runtime();
        const Params &p = c.params;
        engine eng(engine::kind::cpu, 0);
        stream s(eng);
        const OnednnGeometry geo(c, d);
        const memory::dims &src_dims = geo.src_dims, &dst_dims = geo.dst_dims, &w_dims = geo.w_dims;
        const memory::dims &strides = geo.strides, &dilates = geo.dilates, &pad_l = geo.pad_l, &pad_r = geo.pad_r;
        const tag w_user_tag = geo.w_user_tag;
        const memory::desc src_any(src_dims, dt::f32, tag::any), dst_any(dst_dims, dt::f32, tag::any),
            w_any(w_dims, dt::f32, tag::any), b_md({p.out_channels}, dt::f32, tag::a);
        const auto pk = prop_kind::forward_inference;
        const auto alg = algorithm::deconvolution_direct;
#if DNNL_VERSION_MAJOR >= 3
        const deconvolution_forward::primitive_desc pd =
            p.bias ? deconvolution_forward::primitive_desc(eng, pk, alg, src_any, w_any, b_md, dst_any, strides,
                                                           dilates, pad_l, pad_r)
                   : deconvolution_forward::primitive_desc(eng, pk, alg, src_any, w_any, dst_any, strides, dilates,
                                                           pad_l, pad_r);
#else
        const auto desc = p.bias ? deconvolution_forward::desc(pk, alg, src_any, w_any, b_md, dst_any, strides,
                                                               dilates, pad_l, pad_r)
                                 : deconvolution_forward::desc(pk, alg, src_any, w_any, dst_any, strides, dilates,
                                                               pad_l, pad_r);
        const deconvolution_forward::primitive_desc pd(desc, eng);
#endif

        memory src_user(memory::desc(src_dims, dt::f32, tag::ncdhw), eng);
        memory dst_user(memory::desc(dst_dims, dt::f32, tag::ncdhw), eng);
        memory w_user(memory::desc(w_dims, dt::f32, w_user_tag), eng);
        memory bias(b_md, eng);
        for_each_float(src_user, [&](float &v, size_t i) { v = d.x[i]; });
        for_each_float(dst_user, [](float &v, size_t) { v = 0.0f; });
        for_each_float(w_user, [&](float &v, size_t i) { v = d.w[i]; });
        for_each_float(bias, [&](float &v, size_t i) { v = p.bias ? d.b[i] : 0.0f; });

        memory w = w_user;  // the weight reorder, once, outside the timing
        if (pd.weights_desc() != w_user.get_desc()) {
            w = memory(pd.weights_desc(), eng);
            reorder(w_user, w).execute(s, w_user, w);
            s.wait();
        }
        const bool src_reorder = pd.src_desc() != src_user.get_desc();
        const bool dst_reorder = pd.dst_desc() != dst_user.get_desc();
        memory src = src_reorder ? memory(pd.src_desc(), eng) : src_user;
        memory dst = dst_reorder ? memory(pd.dst_desc(), eng) : dst_user;
        const deconvolution_forward conv(pd);
        std::optional<reorder> to_src, from_dst;
        if (src_reorder) to_src = reorder(src_user, src);
        if (dst_reorder) from_dst = reorder(dst, dst_user);

        record_times(r, time_wall_clock(repeats, [&] {
            if (to_src) to_src->execute(s, src_user, src);
            conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
            if (from_dst) from_dst->execute(s, dst, dst_user);
            s.wait();
        }));
        r.what = pd.impl_info_str();
        if (src_reorder || dst_reorder) {
            r.what += std::string(", blocked ") + (src_reorder ? "src" : "") + (src_reorder && dst_reorder ? "+" : "") +
                      (dst_reorder ? "dst" : "") + " (reorders from/to NCDHW timed)";
        } else {
            r.what += ", NCDHW";
        }
        r.y.resize(static_cast<size_t>(numel(d.y_shape)));
        for_each_float(dst_user, [&](float &v, size_t i) { r.y[i] = v; });
    });
}

#endif

}  // namespace convt3d::bench
