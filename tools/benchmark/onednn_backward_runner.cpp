// oneDNN's deconvolution backward primitives on the same case and data, beside convt3d's
// gradient kernels (`convt3d-benchmark --pass backward`): backward_data gives grad_input,
// backward_weights gives grad_weight and grad_bias. Timed like the forward runner: NCDHW
// user memory, reorders to and from the layouts oneDNN prefers inside the timing, the
// weight reorder of backward_data once outside it.
#include "runners.h"

#include <chrono>
#include <optional>
#include <unordered_map>

#ifdef CONVT3D_HAVE_ONEDNN
#include "onednn_common.h"
#endif

namespace convt3d::bench {

#ifndef CONVT3D_HAVE_ONEDNN

RunResult run_onednn_backward(const SuiteCase &, const CaseData &, const std::vector<float> &, Gradient, int) {
    return did_not_run("oneDNN not found at build time");
}

#else

namespace {

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

// A user memory in a plain layout, and the layout a primitive wants with its reorders.
struct Operand {
    memory user, inner;
    std::optional<reorder> in, out;  // user -> inner (an input), inner -> user (an output)
    bool reordered = false;

    Operand(const memory::desc &user_md, const memory::desc &wanted, const engine &eng, bool is_output)
        : user(user_md, eng) {
        reordered = wanted != user_md;
        inner = reordered ? memory(wanted, eng) : user;
        if (reordered && is_output) out = reorder(inner, user);
        if (reordered && !is_output) in = reorder(user, inner);
    }
    void before(stream &s) {
        if (in) in->execute(s, user, inner);
    }
    void after(stream &s) {
        if (out) out->execute(s, inner, user);
    }
    void fill(const std::vector<float> &v) {
        for_each_float(user, [&](float &x, size_t i) { x = v[i]; });
    }
    void read_into(std::vector<float> &v) {
        for_each_float(user, [&](float &x, size_t) { v.push_back(x); });
    }
};

// Times of `repeats` runs of run_once after a warm-up, each until the stream is idle.
template<typename F>
std::vector<double> time_runs(int repeats, stream &s, F &&run_once) {
    return time_wall_clock(repeats, [&] {
        run_once();
        s.wait();
    });
}

}  // namespace

RunResult run_onednn_backward(const SuiteCase &c, const CaseData &d, const std::vector<float> &grad_output,
                              Gradient which, int repeats) {
    return guarded_run([&](RunResult &r) {
        point_opencl_loader_at_cpu_runtime();
        const Params &p = c.params;
        engine eng(engine::kind::cpu, 0);
        stream s(eng);
        const OnednnGeometry g(c, d);
        const memory::desc src_any(g.src_dims, dt::f32, tag::any), dst_any(g.dst_dims, dt::f32, tag::any),
            w_any(g.w_dims, dt::f32, tag::any), b_md({p.out_channels}, dt::f32, tag::a);
        const memory::desc src_user(g.src_dims, dt::f32, tag::ncdhw), dst_user(g.dst_dims, dt::f32, tag::ncdhw),
            w_user(g.w_dims, dt::f32, g.w_user_tag);
        const auto alg = algorithm::deconvolution_direct;
#if DNNL_VERSION_MAJOR >= 3
        const deconvolution_forward::primitive_desc hint(eng, prop_kind::forward_training, alg, src_any, w_any, b_md,
                                                         dst_any, g.strides, g.dilates, g.pad_l, g.pad_r);
#else
        const deconvolution_forward::primitive_desc hint(
            deconvolution_forward::desc(prop_kind::forward_training, alg, src_any, w_any, b_md, dst_any, g.strides,
                                        g.dilates, g.pad_l, g.pad_r),
            eng);
#endif
        std::string layouts;
        auto note = [&](const Operand &o, const char *name) {
            if (o.reordered) layouts += std::string(layouts.empty() ? "" : "+") + name;
        };
        if (which == Gradient::input) {
#if DNNL_VERSION_MAJOR >= 3
            const deconvolution_backward_data::primitive_desc pd(eng, alg, src_any, w_any, dst_any, g.strides,
                                                                 g.dilates, g.pad_l, g.pad_r, hint);
#else
            const deconvolution_backward_data::primitive_desc pd(
                deconvolution_backward_data::desc(alg, src_any, w_any, dst_any, g.strides, g.dilates, g.pad_l, g.pad_r),
                eng, hint);
#endif
            Operand diff_dst(dst_user, pd.diff_dst_desc(), eng, false), w(w_user, pd.weights_desc(), eng, false),
                diff_src(src_user, pd.diff_src_desc(), eng, true);
            diff_dst.fill(grad_output);
            w.fill(d.w);
            w.before(s);  // the weight reorder, once, outside the timing
            s.wait();
            const deconvolution_backward_data prim(pd);
            record_times(r, time_runs(repeats, s, [&] {
                diff_dst.before(s);
                prim.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst.inner}, {DNNL_ARG_WEIGHTS, w.inner},
                                 {DNNL_ARG_DIFF_SRC, diff_src.inner}});
                diff_src.after(s);
            }));
            r.what = pd.impl_info_str();
            note(diff_dst, "diff_dst");
            note(diff_src, "diff_src");
            diff_src.read_into(r.y);
        } else {
#if DNNL_VERSION_MAJOR >= 3
            const deconvolution_backward_weights::primitive_desc pd =
                p.bias ? deconvolution_backward_weights::primitive_desc(eng, alg, src_any, w_any, b_md, dst_any,
                                                                        g.strides, g.dilates, g.pad_l, g.pad_r, hint)
                       : deconvolution_backward_weights::primitive_desc(eng, alg, src_any, w_any, dst_any, g.strides,
                                                                        g.dilates, g.pad_l, g.pad_r, hint);
#else
            const deconvolution_backward_weights::primitive_desc pd(
                p.bias ? deconvolution_backward_weights::desc(alg, src_any, w_any, b_md, dst_any, g.strides, g.dilates,
                                                              g.pad_l, g.pad_r)
                       : deconvolution_backward_weights::desc(alg, src_any, w_any, dst_any, g.strides, g.dilates,
                                                              g.pad_l, g.pad_r),
                eng, hint);
#endif
            Operand src(src_user, pd.src_desc(), eng, false), diff_dst(dst_user, pd.diff_dst_desc(), eng, false),
                diff_w(w_user, pd.diff_weights_desc(), eng, true);
            memory diff_b(b_md, eng);
            src.fill(d.x);
            diff_dst.fill(grad_output);
            const deconvolution_backward_weights prim(pd);
            record_times(r, time_runs(repeats, s, [&] {
                src.before(s);
                diff_dst.before(s);
                std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src.inner},
                                                     {DNNL_ARG_DIFF_DST, diff_dst.inner},
                                                     {DNNL_ARG_DIFF_WEIGHTS, diff_w.inner}};
                if (p.bias) args.insert({DNNL_ARG_DIFF_BIAS, diff_b});
                prim.execute(s, args);
                diff_w.after(s);  // grad_weight in PyTorch's layout, as convt3d gives it
            }));
            r.what = pd.impl_info_str();
            note(src, "src");
            note(diff_dst, "diff_dst");
            note(diff_w, "diff_weights");
            diff_w.read_into(r.y);
            if (p.bias) for_each_float(diff_b, [&](float &x, size_t) { r.y.push_back(x); });
        }
        r.what += layouts.empty() ? ", NCDHW" : ", blocked " + layouts + " (reorders from/to user layouts timed)";
    });
}

#endif

}  // namespace convt3d::bench
