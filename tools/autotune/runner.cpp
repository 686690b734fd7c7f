// convt3d-tune-runner: the measuring half of the autotuner. It loads one candidate kernel
// (a shared object that convt3d-autotune compiled from the forward generator), checks it
// against the double-precision reference on small versions of the suite cases, and times
// it on the cases themselves. It needs no Halide, so candidates can be built on one machine
// and measured on another. The Halide runtime the candidates use is this executable's own
// (they are compiled with no_runtime; the executable exports its symbols). A CUDA candidate
// (--device cuda) runs on device copies of the data; each timed run waits for the GPU.
#include "convt3d/convt3d.hpp"

#include "cuda_backend.h"
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
using json = nlohmann::json;

// One case's tensors where the candidate runs (host memory, or copies on the GPU), and in
// how many calls: the runtime runs some grouped layers one group at a time
// (KernelChoice::group_calls), and so does the candidate of that kernel.
struct Operands {
    Params params;
    int64_t group_calls;
    Tensor x, w, b, y;

    Operands(const SuiteCase &c, const bench::CaseData &d, Device device)
        : params(c.params),
          group_calls(choose_kernel(c.params, device).group_calls),
          x(Tensor::from_vector(d.x, d.x_shape).to(device)),
          w(Tensor::from_vector(d.w, d.w_shape).to(device)),
          // The kernels always take a bias: zeros when the module has none.
          b(Tensor::from_vector(d.b.empty() ? std::vector<float>(size_t(c.params.out_channels), 0.0f) : d.b,
                                {c.params.out_channels})
                .to(device)),
          y(d.y_shape, device) {
        y.fill(std::numeric_limits<float>::quiet_NaN());  // so that the check sees unwritten outputs
    }
};

// Runs fn (once per group where the runtime would) and waits for it to finish (a CUDA
// kernel's launch returns before it does); throws BackendError with Halide's message.
void run_kernel(ForwardKernelFn fn, Operands &o) {
    const ConstTensorView b = o.b.view();
    detail::run_forward_kernel(fn, o.group_calls, o.x.view(), o.w.view(), &b, o.y.view(), o.params, "candidate");
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
json check_shape(ForwardKernelFn fn, const SuiteCase &c, const Shape &shape, Device device) {
    SuiteCase sized = c;
    sized.input_shape = shape;
    const bench::CaseData d = bench::make_case_data(sized);
    Operands o(c, d, device);
    try {
        run_kernel(fn, o);
    } catch (const BackendError &e) {
        return {{"status", "error"}, {"why", e.what()}};
    }
    const std::vector<float> y = o.y.to_vector();
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
json check(ForwardKernelFn fn, const SuiteCase &c, Device device) {
    json r = check_shape(fn, c, small_input_shape(c), device);
    if (r["status"] == "error") {
        const std::string why = r["why"];
        r = check_shape(fn, c, c.input_shape, device);
        r["small_input"] = why;
    }
    return r;
}

// Median of at least `repeats` timed runs after `warmup` untimed ones, more for a quick case
// until the timed runs add up to min_total_ms (a few-ms case is otherwise at the mercy of
// one disturbance), and fewer when one run exceeds max_ms (a candidate far off the pace is
// not worth the time). The warm-up also lasts at least min_warmup_ms: an idle GPU runs at a
// fraction of its clock until it has been busy for a while.
json time_case(ForwardKernelFn fn, const SuiteCase &c, Device device, int warmup, int repeats, double max_ms,
               double min_total_ms, double min_warmup_ms) {
    Operands o(c, bench::make_case_data(c), device);
    const auto warm_start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - warm_start).count() <
           min_warmup_ms) {
        run_kernel(fn, o);
    }
    std::vector<double> samples;
    double total_ms = 0;
    for (int i = 0; i < warmup + repeats || (total_ms < min_total_ms && samples.size() < 1000); i++) {
        const auto t0 = std::chrono::steady_clock::now();
        run_kernel(fn, o);  // it passed the check: errors are exceptional
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
    double max_ms = 2000, min_total_ms = 300, min_warmup_ms = 0;
    bool describe = false;
    std::string device_name = "cpu";
    app.add_option("--suite", suite_path, "Benchmark suite (JSON)");
    app.add_option("--library", library, "Candidate shared object");
    app.add_option("--symbol", symbol, "The candidate's function name");
    app.add_option("--case", case_names, "Suite cases to check and time (default: the device's cases)");
    app.add_option("--device", device_name, "Where the candidate runs (a CUDA candidate: cuda)")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    app.add_option("--warmup", warmup, "Untimed runs first")->check(CLI::NonNegativeNumber);
    app.add_option("--repeats", repeats, "Timed runs; the median is reported")->check(CLI::PositiveNumber);
    app.add_option("--max-ms", max_ms, "Stop repeating once one run takes longer than this");
    app.add_option("--min-total-ms", min_total_ms, "Repeat a quick case until its timed runs add up to this");
    app.add_option("--min-warmup-ms", min_warmup_ms, "Keep warming up (untimed runs) for at least this long");
    app.add_flag("--describe", describe,
                 "Print each of the device's cases with the kernel the built-in runtime chooses for it, and exit");
    CLI11_PARSE(app, argc, argv);
    const Device device = device_name == "cuda" ? Device::cuda : Device::cpu;

    try {
        std::vector<SuiteCase> cases;
        for (const SuiteCase &c : bench::load_suite(suite_path)) {
            const bool named = std::find(case_names.begin(), case_names.end(), c.name) != case_names.end();
            if (case_names.empty() ? (device == Device::cpu ? c.cpu : c.gpu) : named) cases.push_back(c);
        }
        if (cases.size() < std::max<size_t>(case_names.size(), 1)) {
            throw std::runtime_error("--case names a case that is not in " + suite_path);
        }
        if (describe) {
            json out = json::array();
            for (const SuiteCase &c : cases) {
                const KernelChoice k = choose_kernel(c.params, device);
                out.push_back({{"case", c.name},
                               {"kernel", k.kernel},
                               {"group_calls", k.group_calls},
                               {"gflop", c.flops() * 1e-9}});
            }
            std::cout << out.dump(1) << "\n";
            return 0;
        }
        if (library.empty()) throw std::runtime_error("--library is required");
        if (device == Device::cuda) {
            if (!cuda_available()) throw std::runtime_error("--device cuda: no CUDA device");
            detail::cuda_prepare();  // the library's CUDA set-up: its context, stream and register limit
        }
        void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto fn = reinterpret_cast<ForwardKernelFn>(dlsym(handle, symbol.c_str()));
        if (!fn) throw std::runtime_error("no symbol " + symbol + " in " + library);
        json out{{"library", library}, {"cases", json::object()}};
        for (const SuiteCase &c : cases) {
            json r = check(fn, c, device);
            if (r["status"] == "ok") {
                json t = time_case(fn, c, device, warmup, repeats, max_ms, min_total_ms, min_warmup_ms);
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
