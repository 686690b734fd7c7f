// convt3d-tune-runner: the measuring half of the autotuner. It loads one candidate kernel
// (a shared object that convt3d-autotune compiled from the forward generator), checks it
// against the double-precision reference on small versions of the suite cases, and times
// it on the cases themselves. It needs no Halide, so candidates can be built on one machine
// and measured on another. The Halide runtime the candidates use is this executable's own
// (they are compiled with no_runtime; the executable exports its symbols).
#include "convt3d/convt3d.hpp"

#include "halide_buffers.h"
#include "reference.h"
#include "suite.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <random>

namespace {

using namespace convt3d;
using bench::SuiteCase;
using detail::HalideTensor;
using json = nlohmann::json;

// Runs fn on host tensors (PyTorch layouts); throws BackendError with Halide's message.
void run_kernel(ForwardKernelFn fn, const Params &p, const Shape &x_shape, const std::vector<float> &x,
               const std::vector<float> &w, const std::vector<float> &b, std::vector<float> &y) {
    const Shape y_shape = output_shape(p, x_shape);
    HalideTensor x_buf(x.data(), x_shape, Device::cpu);
    HalideTensor w_buf(w.data(), weight_shape(p), Device::cpu);
    std::vector<float> zeros(b.empty() ? size_t(p.out_channels) : 0, 0.0f);
    HalideTensor b_buf(b.empty() ? zeros.data() : b.data(), {p.out_channels}, Device::cpu);
    HalideTensor y_buf(y.data(), y_shape, Device::cpu);
    detail::clear_halide_error();
    const int rc = fn(x_buf.get(), w_buf.get(), b_buf.get(), int(p.stride[2]), int(p.stride[1]), int(p.stride[0]),
              int(p.padding[2]), int(p.padding[1]), int(p.padding[0]), int(p.dilation[2]), int(p.dilation[1]),
              int(p.dilation[0]), int(p.groups), y_buf.get());
    detail::check_kernel_result(rc, "candidate");
}

// The case with batch 1 and spatial extents cut to at most 6 (grown back where the
// padding would leave no output), so that the reference is quick.
Shape small_input_shape(const SuiteCase &c) {
    Shape s = c.input_shape;
    s[0] = 1;
    for (int a = 0; a < 3; a++) {
        const Params &p = c.params;
        int64_t &extent = s[2 + a];
        extent = std::min<int64_t>(extent, 6);
        while ((extent - 1) * p.stride[a] - 2 * p.padding[a] + p.dilation[a] * (p.kernel_size[a] - 1) +
                   p.output_padding[a] + 1 < 2 && extent < c.input_shape[2 + a]) {
            extent++;
        }
    }
    return s;
}

// Max |candidate - reference| on `shape` (batch item 0 only), relative to the largest
// reference value; infinite when an output was left unwritten (outputs start as NaN).
json check_shape(ForwardKernelFn fn, const SuiteCase &c, const Shape &shape) {
    SuiteCase sized = c;
    sized.input_shape = shape;
    const bench::CaseData d = bench::make_case_data(sized);
    std::vector<float> y(size_t(numel(d.y_shape)), std::numeric_limits<float>::quiet_NaN());
    try {
        run_kernel(fn, c.params, d.x_shape, d.x, d.w, d.b, y);
    } catch (const BackendError &e) {
        return {{"status", "error"}, {"why", e.what()}};
    }
    const std::vector<double> ref = reference::forward(c.params, d.x_shape, d.x, d.w, d.b, 0, 1);
    double err = 0, scale = 1;
    for (size_t i = 0; i < ref.size(); i++) {
        const double e = std::abs(double(y[i]) - ref[i]);
        err = std::isnan(e) ? std::numeric_limits<double>::infinity() : std::max(err, e);
        scale = std::max(scale, std::abs(ref[i]));
    }
    // float32 accumulation of (Cin/groups)*k^3 products; a wrong schedule is off by O(1).
    const Params &p = c.params;
    const double terms = double(p.in_channels / p.groups) *
                         double(p.kernel_size[0] * p.kernel_size[1] * p.kernel_size[2]);
    const double tolerance = 1e-5 * std::sqrt(terms + 1) * scale;
    json r{{"max_error", std::isfinite(err) ? json(err) : json("unwritten or non-finite")},
           {"tolerance", tolerance}};
    r["status"] = err <= tolerance ? "ok" : "wrong";
    return r;
}

// Checked on a small version of the case first (quick). A kernel that refuses it (Halide's
// autoschedulers tile for the estimated sizes and may read out of bounds below them) is
// checked on the case's own shape instead, so that it can still be compared there.
json check(ForwardKernelFn fn, const SuiteCase &c) {
    json r = check_shape(fn, c, small_input_shape(c));
    if (r["status"] == "error") {
        const std::string why = r["why"];
        r = check_shape(fn, c, c.input_shape);
        r["small_input"] = why;
    }
    return r;
}

// Median of at least `repeats` timed runs after `warmup` untimed ones, more for a quick case
// until the timed runs add up to min_total_ms (a few-ms case is otherwise at the mercy of
// one disturbance), and fewer when one run exceeds max_ms (a candidate far off the pace is
// not worth the time).
json time_case(ForwardKernelFn fn, const SuiteCase &c, int warmup, int repeats, double max_ms,
               double min_total_ms) {
    const bench::CaseData d = bench::make_case_data(c);
    std::vector<float> y(size_t(numel(d.y_shape)));
    std::vector<double> samples;
    double total_ms = 0;
    for (int i = 0; i < warmup + repeats || (total_ms < min_total_ms && samples.size() < 1000); i++) {
        const auto t0 = std::chrono::steady_clock::now();
        run_kernel(fn, c.params, d.x_shape, d.x, d.w, d.b, y);  // it passed the check: errors are exceptional
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i >= warmup) {
            samples.push_back(ms);
            total_ms += ms;
        }
        if (ms > max_ms) {
            if (!samples.empty()) break;
            i = std::max(i, warmup - 1);  // a slow candidate: skip the rest of the warm-up
        }
    }
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    return {{"status", "ok"}, {"median_ms", sorted[sorted.size() / 2]}, {"samples_ms", samples}};
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"convt3d-tune-runner: checks and times one candidate kernel of convt3d-autotune"};
    std::string suite_path = CONVT3D_DEFAULT_SUITE, library, symbol = "convt3d_candidate";
    std::vector<std::string> case_names;
    int warmup = 1, repeats = 5;
    double max_ms = 2000, min_total_ms = 300;
    bool describe = false;
    app.add_option("--suite", suite_path, "Benchmark suite (JSON)");
    app.add_option("--library", library, "Candidate shared object");
    app.add_option("--symbol", symbol, "The candidate's function name");
    app.add_option("--case", case_names, "Suite cases to check and time (default: every CPU case)");
    app.add_option("--warmup", warmup, "Untimed runs first")->check(CLI::NonNegativeNumber);
    app.add_option("--repeats", repeats, "Timed runs; the median is reported")->check(CLI::PositiveNumber);
    app.add_option("--max-ms", max_ms, "Stop repeating once one run takes longer than this");
    app.add_option("--min-total-ms", min_total_ms, "Repeat a quick case until its timed runs add up to this");
    app.add_flag("--describe", describe,
                 "Print each CPU case with the kernel the built-in runtime chooses for it, and exit");
    CLI11_PARSE(app, argc, argv);

    try {
        std::vector<SuiteCase> cases;
        for (const SuiteCase &c : bench::load_suite(suite_path)) {
            const bool named = std::find(case_names.begin(), case_names.end(), c.name) != case_names.end();
            if (case_names.empty() ? c.cpu : named) cases.push_back(c);
        }
        if (cases.size() < std::max<size_t>(case_names.size(), 1)) {
            throw std::runtime_error("--case names a case that is not in " + suite_path);
        }
        if (describe) {
            json out = json::array();
            for (const SuiteCase &c : cases) {
                out.push_back({{"case", c.name},
                               {"kernel", choose_kernel(c.params, Device::cpu).kernel},
                               {"gflop", c.flops() * 1e-9}});
            }
            std::cout << out.dump(1) << "\n";
            return 0;
        }
        if (library.empty()) throw std::runtime_error("--library is required");
        void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto fn = reinterpret_cast<ForwardKernelFn>(dlsym(handle, symbol.c_str()));
        if (!fn) throw std::runtime_error("no symbol " + symbol + " in " + library);
        json out{{"library", library}, {"cases", json::object()}};
        for (const SuiteCase &c : cases) {
            json r = check(fn, c);
            if (r["status"] == "ok") {
                json t = time_case(fn, c, warmup, repeats, max_ms, min_total_ms);
                r.update(t);
            }
            out["cases"][c.name] = r;
        }
        std::cout << out.dump() << "\n";
    } catch (const std::exception &e) {
        std::cerr << "convt3d-tune-runner: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
