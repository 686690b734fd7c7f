// convt3d-tune-runner: the measuring half of the autotuner. It loads one candidate kernel
// (a shared object that convt3d-autotune compiled from the forward generator, or with
// --gradient from the grad_input or grad_weight generator), checks it
// against the double-precision reference on small versions of the suite cases, and times
// it on the cases themselves. It needs no Halide, so candidates can be built on one machine
// and measured on another. The Halide runtime the candidates use is this executable's own
// (they are compiled with no_runtime; the executable exports its symbols). A CUDA candidate
// (--device cuda) runs on device copies of the data; each timed run waits for the GPU.
// Given several --library, it checks each and then times them call by call in turns, so
// that a side-by-side comparison sees the same machine load (this machine's speed drifts by
// more than the gaps it is asked to tell apart).
#include "convt3d/convt3d.hpp"

#include "backward_kernel_table.h"
#include "cuda_backend.h"
#include "halide_buffers.h"
#include "reference.h"
#include "reference_backward.h"
#include "suite.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
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

// What a candidate computes: the forward pass, or one gradient (its generator's signature).
enum class Pass { forward, grad_input, grad_weight };

// The kernel the built-in runtime runs for a case (and in how many calls); a gradient's on
// the CPU, on `isa` (some are built for one ISA alone), or on the best this CPU runs.
KernelChoice builtin_choice(const SuiteCase &c, Pass pass, Device device, std::optional<CpuIsa> isa) {
    if (pass == Pass::forward) return choose_kernel(c.params, device);
    KernelChoice k;
    const detail::BackwardTarget target{device, device == Device::cpu ? isa.value_or(best_cpu_isa())
                                                                      : std::optional<CpuIsa>()};
    const auto pick = [&](const auto &table) {
        const auto d = detail::select_backward(table, c.params, target, "");
        k.kernel = d.entry->name;
        k.group_calls = d.group_calls;
    };
    if (pass == Pass::grad_input) {
        pick(detail::grad_input_table());
    } else {
        pick(detail::grad_weight_table());
    }
    return k;
}

// A gradient candidate's tensors for one case: the forward's input and weight, grad_output,
// and the gradient (poisoned with NaN), in as many calls as the runtime makes for it.
struct GradientOperands {
    Params params;
    Pass pass;
    Device device;
    int64_t group_calls;
    Shape x_shape, w_shape, y_shape;
    Tensor x, w, g, out;

    GradientOperands(const SuiteCase &c, const bench::CaseData &d, Pass pass, Device device,
                     std::optional<CpuIsa> isa)
        : params(c.params),
          pass(pass),
          device(device),
          group_calls(builtin_choice(c, pass, device, isa).group_calls),
          x_shape(d.x_shape),
          w_shape(d.w_shape),
          y_shape(d.y_shape),
          x(Tensor::from_vector(d.x, d.x_shape).to(device)),
          w(Tensor::from_vector(d.w, d.w_shape).to(device)),
          g(Tensor::from_vector(bench::make_grad_output(d), d.y_shape).to(device)),
          out(pass == Pass::grad_input ? d.x_shape : d.w_shape, device) {
        out.fill(std::numeric_limits<float>::quiet_NaN());
    }
};

// Runs a gradient candidate as the runtime runs its kernels (once per group where it would).
void run_gradient(detail::GradientKernelFn fn, GradientOperands &o) {
    if (o.pass == Pass::grad_input) {
        detail::run_gradient_kernel(fn, o.group_calls, o.params, o.device, {o.g.data(), o.y_shape, 1},
                                    {o.w.data(), o.w_shape, 0}, {o.out.data(), o.x_shape, 1}, "candidate");
    } else {
        detail::run_gradient_kernel(fn, o.group_calls, o.params, o.device, {o.x.data(), o.x_shape, 1},
                                    {o.g.data(), o.y_shape, 1}, {o.out.data(), o.w_shape, 0}, "candidate");
    }
}

// A loaded candidate: its function, what it computes, and the CPU ISA it was built for
// (unset: the best this CPU runs), whose dispatch it stands in for.
struct Candidate {
    void *fn;
    Pass pass;
    std::optional<CpuIsa> isa;
};

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

// Max |got - ref| relative to the largest reference value (infinite where an output was left
// unwritten: outputs start as NaN), against float32's rounding of `terms` products (a wrong
// schedule is off by O(1)).
json compare_to_reference(const std::vector<float> &got, const std::vector<double> &ref, double terms) {
    double err = 0, scale = 1;
    for (size_t i = 0; i < ref.size(); i++) {
        const double e = std::abs(double(got[i]) - ref[i]);
        err = std::isnan(e) ? std::numeric_limits<double>::infinity() : std::max(err, e);
        scale = std::max(scale, std::abs(ref[i]));
    }
    const double tolerance = 1e-5 * std::sqrt(terms + 1) * scale;
    json r{{"max_error", std::isfinite(err) ? json(err) : json("unwritten or non-finite")},
           {"tolerance", tolerance}};
    r["status"] = err <= tolerance ? "ok" : "wrong";
    return r;
}

// The candidate on `shape` against the double-precision reference.
json check_shape(const Candidate &k, const SuiteCase &c, const Shape &shape, Device device) {
    SuiteCase sized = c;
    sized.input_shape = shape;
    const bench::CaseData d = bench::make_case_data(sized);
    const Params &p = c.params;
    const double taps = double(p.kernel_size[0] * p.kernel_size[1] * p.kernel_size[2]);
    try {
        if (k.pass == Pass::forward) {
            Operands o(c, d, device);
            run_kernel(reinterpret_cast<ForwardKernelFn>(k.fn), o);
            return compare_to_reference(o.y.to_vector(), reference::forward(p, d.x_shape, d.x, d.w, d.b, 0, 1),
                                        double(p.in_channels / p.groups) * taps);
        }
        GradientOperands o(c, d, k.pass, device, k.isa);
        run_gradient(reinterpret_cast<detail::GradientKernelFn>(k.fn), o);
        const reference::Gradients ref = reference::backward(p, d.x_shape, d.x, d.w, o.g.to_vector());
        if (k.pass == Pass::grad_input) {
            return compare_to_reference(o.out.to_vector(), ref.grad_input, double(p.out_channels / p.groups) * taps);
        }
        const double positions = double(numel(d.x_shape) / d.x_shape[1]);  // N * D * H * W
        return compare_to_reference(o.out.to_vector(), ref.grad_weight, positions);
    } catch (const BackendError &e) {
        return {{"status", "error"}, {"why", e.what()}};
    }
}

// Checked on a small version of the case first (quick). A kernel that refuses it (Halide's
// autoschedulers tile for the estimated sizes and may read out of bounds below them) is
// checked on the case's own shape instead, so that it can still be compared there.
json check(const Candidate &k, const SuiteCase &c, Device device) {
    json r = check_shape(k, c, small_input_shape(c), device);
    if (r["status"] == "error") {
        const std::string why = r["why"];
        r = check_shape(k, c, c.input_shape, device);
        r["small_input"] = why;
    }
    return r;
}

// Median of at least `repeats` timed runs after `warmup` untimed ones, more for a quick case
// until the timed runs add up to min_total_ms (a few-ms case is otherwise at the mercy of
// one disturbance), and fewer when one run exceeds max_ms (a candidate far off the pace is
// not worth the time). The warm-up also lasts at least min_warmup_ms: an idle GPU runs at a
// fraction of its clock until it has been busy for a while.
json time_runs(const std::function<void()> &run, int warmup, int repeats, double max_ms, double min_total_ms,
               double min_warmup_ms) {
    const auto warm_start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - warm_start).count() <
           min_warmup_ms) {
        run();
    }
    std::vector<double> samples;
    double total_ms = 0;
    for (int i = 0; i < warmup + repeats || (total_ms < min_total_ms && samples.size() < 1000); i++) {
        const auto t0 = std::chrono::steady_clock::now();
        run();  // it passed the check: errors are exceptional
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

// One call of the candidate on the case's data, as a function that owns its operands (each
// candidate writes its own output, so candidates timed together never read each other's).
std::function<void()> case_call(const Candidate &k, const SuiteCase &c, const bench::CaseData &d, Device device) {
    if (k.pass == Pass::forward) {
        auto o = std::make_shared<Operands>(c, d, device);
        const auto fn = reinterpret_cast<ForwardKernelFn>(k.fn);
        return [fn, o] { run_kernel(fn, *o); };
    }
    auto o = std::make_shared<GradientOperands>(c, d, k.pass, device, k.isa);
    const auto fn = reinterpret_cast<detail::GradientKernelFn>(k.fn);
    return [fn, o] { run_gradient(fn, *o); };
}

// time_runs of the candidate on the case's own data.
json time_case(const Candidate &k, const SuiteCase &c, Device device, int warmup, int repeats, double max_ms,
               double min_total_ms, double min_warmup_ms) {
    return time_runs(case_call(k, c, bench::make_case_data(c), device), warmup, repeats, max_ms, min_total_ms,
                     min_warmup_ms);
}

// The candidates of one case called in turns, one call each per round after `warmup`
// rounds; each gets its median, 25th percentile and fastest call.
json time_in_turns(const std::vector<std::function<void()>> &runs, int warmup, int repeats) {
    std::vector<std::vector<double>> samples(runs.size());
    for (int i = 0; i < warmup + repeats; i++) {
        for (size_t k = 0; k < runs.size(); k++) {
            const auto t0 = std::chrono::steady_clock::now();
            runs[k]();
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (i >= warmup) samples[k].push_back(ms);
        }
    }
    json out = json::array();
    for (std::vector<double> &s : samples) {
        std::sort(s.begin(), s.end());
        out.push_back({{"status", "ok"},
                       {"median_ms", s[s.size() / 2]},
                       {"p25_ms", s[s.size() / 4]},
                       {"fastest_ms", s.front()}});
    }
    return out;
}

// Every candidate checked on the case, then those that pass timed in turns on its own data.
json compare_case(const std::vector<Candidate> &ks, const SuiteCase &c, Device device, int warmup, int repeats) {
    const bench::CaseData d = bench::make_case_data(c);
    json results = json::array();
    std::vector<size_t> passed;
    for (size_t i = 0; i < ks.size(); i++) {
        results.push_back(check(ks[i], c, device));
        if (results[i]["status"] == "ok") passed.push_back(i);
    }
    std::vector<std::function<void()>> runs;
    for (size_t i : passed) runs.push_back(case_call(ks[i], c, d, device));
    const json times = time_in_turns(runs, warmup, repeats);
    for (size_t j = 0; j < passed.size(); j++) results[passed[j]].update(times[j]);
    return results;
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"convt3d-tune-runner: checks and times a candidate kernel of convt3d-autotune (several: in turns)"};
    std::string suite_path = CONVT3D_DEFAULT_SUITE, symbol = "convt3d_candidate";
    std::vector<std::string> case_names, libraries;
    int warmup = 1, repeats = 5;
    double max_ms = 2000, min_total_ms = 300, min_warmup_ms = 0;
    bool describe = false;
    std::string device_name = "cpu", gradient = "forward", isa_name;
    app.add_option("--suite", suite_path, "Benchmark suite (JSON)");
    app.add_option("--library", libraries,
                   "Candidate shared object; given several times, the candidates are timed in turns, call by call");
    app.add_option("--symbol", symbol, "The candidate's function name");
    app.add_option("--case", case_names, "Suite cases to check and time (default: the device's cases)");
    app.add_option("--device", device_name, "Where the candidate runs (a CUDA candidate: cuda)")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    app.add_option("--isa", isa_name,
                   "The CPU ISA the candidates were built for, whose built-in gradient kernels --describe names and "
                   "the candidates' group calls follow (default: the best this CPU runs)")
        ->check(CLI::IsMember({"avx512", "avx2", "sse41"}));
    app.add_option("--gradient", gradient,
                   "What the candidate computes: forward, or a gradient (the grad_input or grad_weight generator's "
                   "signature)")
        ->check(CLI::IsMember({"forward", "grad_input", "grad_weight"}));
    app.add_option("--warmup", warmup, "Untimed runs first")->check(CLI::NonNegativeNumber);
    app.add_option("--repeats", repeats, "Timed runs; the median is reported")->check(CLI::PositiveNumber);
    app.add_option("--max-ms", max_ms, "Stop repeating once one run takes longer than this");
    app.add_option("--min-total-ms", min_total_ms, "Repeat a quick case until its timed runs add up to this");
    app.add_option("--min-warmup-ms", min_warmup_ms, "Keep warming up (untimed runs) for at least this long");
    app.add_flag("--describe", describe,
                 "Print each of the device's cases with the kernel the built-in runtime chooses for it, and exit");
    CLI11_PARSE(app, argc, argv);
    const Device device = device_name == "cuda" ? Device::cuda : Device::cpu;
    const Pass pass = gradient == "grad_input" ? Pass::grad_input
                      : gradient == "grad_weight" ? Pass::grad_weight
                                                  : Pass::forward;
    const std::optional<CpuIsa> isa = isa_name.empty() ? std::nullopt : parse_cpu_isa(isa_name);

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
                const KernelChoice k = builtin_choice(c, pass, device, isa);
                out.push_back({{"case", c.name},
                               {"kernel", k.kernel},
                               {"group_calls", k.group_calls},
                               {"gflop", c.flops() * 1e-9}});
            }
            std::cout << out.dump(1) << "\n";
            return 0;
        }
        if (libraries.empty()) throw std::runtime_error("--library is required");
        if (device == Device::cuda) {
            if (!cuda_available()) throw std::runtime_error("--device cuda: no CUDA device");
            detail::cuda_prepare();  // the library's CUDA set-up: its context, stream and register limit
        }
        std::vector<Candidate> ks;
        for (const std::string &library : libraries) {
            void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (!handle) throw std::runtime_error(std::string("dlopen: ") + dlerror());
            ks.push_back({dlsym(handle, symbol.c_str()), pass, isa});
            if (!ks.back().fn) throw std::runtime_error("no symbol " + symbol + " in " + library);
        }
        if (ks.size() > 1) {
            json out{{"libraries", libraries}, {"cases", json::object()}};
            for (const SuiteCase &c : cases) out["cases"][c.name] = compare_case(ks, c, device, warmup, repeats);
            std::cout << out.dump() << "\n";
            return 0;
        }
        const Candidate &k = ks.front();
        json out{{"library", libraries.front()}, {"cases", json::object()}};
        for (const SuiteCase &c : cases) {
            json r = check(k, c, device);
            if (r["status"] == "ok") {
                json t = time_case(k, c, device, warmup, repeats, max_ms, min_total_ms, min_warmup_ms);
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
