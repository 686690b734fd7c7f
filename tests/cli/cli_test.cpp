// End-to-end test of the `convt3d` CLI on .npy files, with no Python: writes inputs with
// xtensor, runs the CLI as a child process, reads its output and compares it with the
// double-precision scatter-form reference (reference/reference.h). Also checks that bad inputs
// give a non-zero exit and exactly one stderr line "convt3d: error: ...", never a crash.
//
//   convt3d_cli_test PATH_TO_convt3d WORK_DIR
#include "reference.h"
#include "reference_backward.h"

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern char **environ;

namespace fs = std::filesystem;
using namespace convt3d;

namespace {

std::string g_cli;
fs::path g_dir;
int g_failures = 0, g_checks = 0;

void check(bool ok, const std::string &what) {
    g_checks++;
    if (!ok) g_failures++;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    std::fflush(stdout);
}

struct Result {
    int status = -1;      // exit status, or -1
    int signal = 0;       // the signal that killed it, or 0
    std::string out, err;
};

std::string slurp(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs the CLI with these arguments (no shell), stdout and stderr captured in files.
Result run(const std::vector<std::string> &args) {
    const fs::path out = g_dir / "stdout.txt", err = g_dir / "stderr.txt";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> all{g_cli};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    Result r;
    if (posix_spawn(&pid, g_cli.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        r.err = "could not start " + g_cli;
        return r;
    }
    posix_spawn_file_actions_destroy(&fa);
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
    if (WIFSIGNALED(ws)) r.signal = WTERMSIG(ws);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

std::string path(const std::string &name) { return (g_dir / name).string(); }

template<typename T>
void save(const std::string &name, const std::vector<T> &v, const Shape &shape) {
    const std::vector<size_t> s(shape.begin(), shape.end());
    xt::dump_npy(path(name), xt::adapt(v, s));
}

std::vector<float> uniform(std::mt19937 &rng, int64_t n) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v) x = u(rng);
    return v;
}

std::string triple(const Triple &t) {
    return std::to_string(t[0]) + "," + std::to_string(t[1]) + "," + std::to_string(t[2]);
}

std::string one_line(const std::string &s) {
    std::string t = s;
    std::replace(t.begin(), t.end(), '\n', '|');
    return t;
}

// A run that must succeed and match the reference.
void good_case(const std::string &name, const Params &p, const Shape &in_shape, std::mt19937 &rng,
               const std::vector<std::string> &extra = {}, bool pass_hyper = true) {
    const std::vector<float> x = uniform(rng, numel(in_shape));
    const std::vector<float> w = uniform(rng, numel(weight_shape(p)));
    const std::vector<float> b = p.bias ? uniform(rng, p.out_channels) : std::vector<float>{};
    save("x.npy", x, in_shape);
    save("w.npy", w, weight_shape(p));
    fs::remove(path("y.npy"));
    std::vector<std::string> args{"run", "--input", path("x.npy"), "--weight", path("w.npy"), "--output", path("y.npy")};
    if (pass_hyper) {
        args.insert(args.end(), {"--stride", triple(p.stride), "--padding", triple(p.padding), "--output-padding",
                                 triple(p.output_padding), "--dilation", triple(p.dilation), "--groups",
                                 std::to_string(p.groups), "--in-channels", std::to_string(p.in_channels),
                                 "--out-channels", std::to_string(p.out_channels), "--kernel-size",
                                 triple(p.kernel_size)});
    } else if (p.groups != 1) {
        args.insert(args.end(), {"--groups", std::to_string(p.groups)});
    }
    if (p.bias) {
        save("b.npy", b, {p.out_channels});
        args.insert(args.end(), {"--bias", path("b.npy")});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = run(args);
    check(r.status == 0, name + ": exit 0 (" + one_line(r.err) + ")");
    if (r.status != 0) return;
    const Shape expected = reference::output_shape(p, in_shape);
    check(r.out.find(shape_to_string(expected)) != std::string::npos && r.out.find("kernel") != std::string::npos,
          name + ": prints the output shape " + shape_to_string(expected) + " and the kernel (" + one_line(r.out) + ")");
    xt::xarray<float> y;
    try {
        y = xt::load_npy<float, xt::layout_type::row_major>(path("y.npy"));
    } catch (const std::exception &e) {
        check(false, name + ": output is a float32 C-order .npy (" + e.what() + ")");
        return;
    }
    const Shape got(y.shape().begin(), y.shape().end());
    check(got == expected, name + ": output shape " + shape_to_string(got) + " == " + shape_to_string(expected));
    if (got != expected) return;
    const std::vector<double> ref = reference::forward(p, in_shape, x, w, b);
    double max_ref = 0, max_err = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        max_ref = std::max(max_ref, std::fabs(ref[i]));
        max_err = std::max(max_err, std::isfinite(y.data()[i]) ? std::fabs(y.data()[i] - ref[i]) : INFINITY);
    }
    const double rel = max_err / std::max(max_ref, 1e-30);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2e", rel);
    check(rel <= 1e-5, name + ": max |y - ref| / max |ref| = " + buf + " <= 1e-5");
}

// max |got - ref| / max |ref| of a written .npy against the reference, or infinity when
// the file is missing, unreadable or of another shape.
double npy_error(const std::string &name, const std::vector<double> &ref, const Shape &shape) {
    xt::xarray<float> got;
    try {
        got = xt::load_npy<float, xt::layout_type::row_major>(path(name));
    } catch (const std::exception &) {
        return INFINITY;
    }
    if (Shape(got.shape().begin(), got.shape().end()) != shape) return INFINITY;
    double max_ref = 0, max_err = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        max_ref = std::max(max_ref, std::fabs(ref[i]));
        max_err = std::max(max_err, std::isfinite(got.data()[i]) ? std::fabs(got.data()[i] - ref[i]) : INFINITY);
    }
    return max_err / std::max(max_ref, 1e-30);
}

// A `backward` run that must succeed and write the requested gradients (those named in
// `grads`, a subset of "input", "weight", "bias"), each matching the reference.
void good_backward_case(const std::string &name, const Params &p, const Shape &in_shape, std::mt19937 &rng,
                        const std::vector<std::string> &grads, const std::vector<std::string> &extra = {}) {
    const std::vector<float> x = uniform(rng, numel(in_shape));
    const std::vector<float> w = uniform(rng, numel(weight_shape(p)));
    const Shape out_shape = reference::output_shape(p, in_shape);
    const std::vector<float> g = uniform(rng, numel(out_shape));
    save("x.npy", x, in_shape);
    save("w.npy", w, weight_shape(p));
    save("g.npy", g, out_shape);
    std::vector<std::string> args{"backward", "--input", path("x.npy"), "--weight", path("w.npy"), "--grad-output",
                                  path("g.npy"), "--stride", triple(p.stride), "--padding", triple(p.padding),
                                  "--output-padding", triple(p.output_padding), "--dilation", triple(p.dilation),
                                  "--groups", std::to_string(p.groups)};
    for (const char *which : {"input", "weight", "bias"}) fs::remove(path(std::string("grad_") + which + ".npy"));
    for (const std::string &which : grads) {
        args.insert(args.end(), {"--grad-" + which, path("grad_" + which + ".npy")});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = run(args);
    check(r.status == 0, name + ": exit 0 (" + one_line(r.err) + ")");
    if (r.status != 0) return;
    const reference::Gradients ref = reference::backward(p, in_shape, x, w, g);
    for (const std::string &which : {std::string("input"), std::string("weight"), std::string("bias")}) {
        const bool wanted = std::find(grads.begin(), grads.end(), which) != grads.end();
        if (!wanted) {
            check(!fs::exists(path("grad_" + which + ".npy")), name + ": grad_" + which + " not written");
            continue;
        }
        const double e = which == "input"    ? npy_error("grad_input.npy", ref.grad_input, in_shape)
                         : which == "weight" ? npy_error("grad_weight.npy", ref.grad_weight, weight_shape(p))
                                             : npy_error("grad_bias.npy", ref.grad_bias, {p.out_channels});
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2e", e);
        check(e <= 1e-5, name + ": grad_" + which + " max error / max |ref| = " + buf + " <= 1e-5");
    }
}

// A run that must fail with one "convt3d: error:" line and a non-zero exit.
void bad_case(const std::string &what, const std::vector<std::string> &args) {
    const Result r = run(args);
    const bool one_line_error = r.err.rfind("convt3d: error: ", 0) == 0 &&
                                r.err.find('\n') == r.err.size() - 1;
    check(r.signal == 0 && r.status > 0 && one_line_error,
          what + ": non-zero exit and one error line (status " + std::to_string(r.status) +
              (r.signal ? ", signal " + std::to_string(r.signal) : "") + ", stderr \"" + one_line(r.err) + "\")");
}

Params params(int64_t cin, int64_t cout, Triple k, Triple s, Triple pad, Triple op, Triple dil, int64_t groups,
              bool bias) {
    Params p;
    p.in_channels = cin;
    p.out_channels = cout;
    p.kernel_size = k;
    p.stride = s;
    p.padding = pad;
    p.output_padding = op;
    p.dilation = dil;
    p.groups = groups;
    p.bias = bias;
    return p;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s PATH_TO_convt3d WORK_DIR\n", argv[0]);
        return 2;
    }
    g_cli = argv[1];
    g_dir = argv[2];
    try {
        fs::create_directories(g_dir);
        std::mt19937 rng(5);

        // ---- runs that must match the reference ----
        good_case("grouped, stride 2,1,2, output_padding", params(4, 6, {3, 2, 2}, {2, 1, 2}, {1, 0, 1}, {1, 0, 0},
                                                                  {1, 1, 1}, 2, true),
                  {2, 4, 3, 4, 5}, rng);
        good_case("k2s2 without bias", params(3, 2, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 1, false),
                  {2, 3, 3, 4, 5}, rng);
        good_case("dilated, grouped", params(2, 4, {3, 3, 3}, {1, 1, 1}, {2, 2, 2}, {0, 1, 0}, {2, 2, 2}, 2, true),
                  {2, 2, 3, 4, 5}, rng);
        good_case("seed-example hyper-parameters, small input",
                  params(16, 33, {3, 5, 2}, {2, 1, 1}, {0, 4, 2}, {0, 0, 0}, {1, 1, 1}, 1, true), {2, 16, 3, 6, 7},
                  rng);
        good_case("unbatched (C, D, H, W) input",
                  params(3, 5, {2, 3, 2}, {1, 2, 1}, {0, 1, 0}, {0, 1, 0}, {1, 1, 1}, 1, true), {3, 4, 3, 5}, rng);
        good_case("channels and kernel size inferred from the weight",
                  params(4, 6, {2, 3, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 2, true), {1, 4, 3, 3, 3}, rng,
                  {}, /*pass_hyper=*/false);
        good_case("one CPU thread (--threads 1)",
                  params(4, 8, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, true), {2, 4, 3, 4, 5}, rng,
                  {"--threads", "1"});
        good_case("forced kernel generic, ISA sse41",
                  params(3, 4, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, true), {1, 3, 3, 4, 3}, rng,
                  {"--kernel", "generic", "--isa", "sse41"});
        good_case("one int for every spatial flag",
                  params(2, 3, {2, 2, 2}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, true), {1, 2, 3, 3, 3}, rng,
                  {"--stride", "2", "--padding", "1", "--output-padding", "1", "--kernel-size", "2"},
                  /*pass_hyper=*/false);

        // ---- backward: the requested gradients, matching the reference ----
        const Params grouped = params(4, 6, {3, 2, 2}, {2, 1, 2}, {1, 0, 1}, {1, 0, 0}, {1, 2, 1}, 2, true);
        good_backward_case("backward, all three gradients", grouped, {2, 4, 3, 4, 5}, rng, {"input", "weight", "bias"});
        good_backward_case("backward, grad_weight only, unbatched, forced ISA", grouped, {4, 3, 4, 5}, rng, {"weight"},
                           {"--isa", "sse41", "--kernel", "generic"});
        good_backward_case("backward, grad_input and grad_bias",
                           params(3, 5, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 0, 0}, {1, 1, 1}, 1, true), {1, 3, 2, 3, 4},
                           rng, {"input", "bias"});
        {
            save("gbad.npy", std::vector<float>(7, 0.0f), {7});
            const std::vector<std::string> b{"backward", "--input", path("x.npy"), "--weight", path("w.npy")};
            auto bwd = [&](std::vector<std::string> extra) {
                std::vector<std::string> a = b;
                a.insert(a.end(), extra.begin(), extra.end());
                return a;
            };
            bad_case("backward without a gradient to write", bwd({"--grad-output", path("g.npy")}));
            bad_case("backward without --grad-output", bwd({"--grad-input", path("gi.npy")}));
            bad_case("backward with grad_output of the wrong shape",
                     bwd({"--grad-output", path("gbad.npy"), "--grad-input", path("gi.npy")}));
            bad_case("backward with a missing grad_output file",
                     bwd({"--grad-output", path("nope.npy"), "--grad-weight", path("gw.npy")}));
        }

        // ---- runs that must fail cleanly ----
        const std::vector<float> x = uniform(rng, 4 * 27), w = uniform(rng, 4 * 3 * 8);
        save("x.npy", x, {1, 4, 3, 3, 3});
        save("w.npy", w, {4, 3, 2, 2, 2});
        std::vector<double> x64(x.begin(), x.end());
        save("x64.npy", x64, {1, 4, 3, 3, 3});
        std::vector<int32_t> xi(x.size(), 1);
        save("xi.npy", xi, {1, 4, 3, 3, 3});
        {  // Fortran order: xtensor writes fortran_order=True for a column-major array.
            xt::xarray<float, xt::layout_type::column_major> f = xt::zeros<float>({1, 4, 3, 3, 3});
            xt::dump_npy(path("xf.npy"), f);
        }
        {  // Big-endian and truncated variants of a valid file.
            const std::string good = slurp(path("x.npy"));
            std::string big = good;
            const size_t at = big.find("'<f4'");
            if (at != std::string::npos) big[at + 1] = '>';
            std::ofstream(path("xbe.npy"), std::ios::binary) << big;
            std::ofstream(path("xtrunc.npy"), std::ios::binary) << good.substr(0, good.size() - 10);
            std::ofstream(path("garbage.npy"), std::ios::binary) << "this is not an npy file";
        }
        save("w3.npy", std::vector<float>(24, 0.5f), {4, 3, 2});
        save("b2.npy", std::vector<float>(6, 0.5f), {2, 3});
        save("b5.npy", std::vector<float>(5, 0.5f), {5});
        const std::vector<std::string> base{"run", "--weight", path("w.npy"), "--output", path("y.npy")};
        auto with = [&](std::vector<std::string> extra) {
            std::vector<std::string> a = base;
            a.insert(a.end(), extra.begin(), extra.end());
            return a;
        };
        const std::string in = path("x.npy");
        bad_case("missing input file", with({"--input", path("nope.npy")}));
        bad_case("input is a directory", with({"--input", g_dir.string()}));
        bad_case("float64 input", with({"--input", path("x64.npy")}));
        bad_case("int32 input", with({"--input", path("xi.npy")}));
        bad_case("Fortran-order input", with({"--input", path("xf.npy")}));
        bad_case("big-endian input", with({"--input", path("xbe.npy")}));
        bad_case("truncated input", with({"--input", path("xtrunc.npy")}));
        bad_case("not an .npy file", with({"--input", path("garbage.npy")}));
        bad_case("weight of rank 3", {"run", "--input", in, "--weight", path("w3.npy"), "--output", path("y.npy")});
        bad_case("bias of rank 2", with({"--input", in, "--bias", path("b2.npy")}));
        bad_case("bias of the wrong length", with({"--input", in, "--bias", path("b5.npy")}));
        bad_case("bad stride value 2,x", with({"--input", in, "--stride", "2,x"}));
        bad_case("stride with two values", with({"--input", in, "--stride", "2,2"}));
        bad_case("stride 0", with({"--input", in, "--stride", "0"}));
        bad_case("negative padding", with({"--input", in, "--padding", "-1"}));
        bad_case("output_padding not below stride", with({"--input", in, "--output-padding", "1"}));
        bad_case("groups not dividing the channels", with({"--input", in, "--groups", "3"}));
        bad_case("groups 0", with({"--input", in, "--groups", "0"}));
        bad_case("non-numeric groups", with({"--input", in, "--groups", "two"}));
        bad_case("in-channels not matching the input", with({"--input", in, "--in-channels", "5"}));
        bad_case("kernel size not matching the weight", with({"--input", in, "--kernel-size", "3"}));
        bad_case("padding mode reflect", with({"--input", in, "--padding-mode", "reflect"}));
        {
            setenv("CONVT3D_WORKSPACE_CACHE_MB", "lots", 1);
            bad_case("CONVT3D_WORKSPACE_CACHE_MB=lots", with({"--input", in}));
            const Result r = run(with({"--input", in}));
            check(r.err.find("CONVT3D_WORKSPACE_CACHE_MB='lots'") != std::string::npos,
                  "the error names CONVT3D_WORKSPACE_CACHE_MB and its value (\"" + one_line(r.err) + "\")");
            setenv("CONVT3D_WORKSPACE_CACHE_MB", "99999999999999999999", 1);  // overflows
            bad_case("CONVT3D_WORKSPACE_CACHE_MB=99999999999999999999", with({"--input", in}));
            unsetenv("CONVT3D_WORKSPACE_CACHE_MB");
        }
        bad_case("unknown device", with({"--input", in, "--device", "tpu"}));
        bad_case("unknown kernel", with({"--input", in, "--kernel", "no_such_kernel"}));
        bad_case("unknown ISA", with({"--input", in, "--isa", "neon"}));
        bad_case("unknown flag", with({"--input", in, "--frobnicate", "1"}));
        bad_case("--threads 0", with({"--input", in, "--threads", "0"}));
        bad_case("--threads -2", with({"--input", in, "--threads", "-2"}));
        bad_case("missing --input", base);
        bad_case("no subcommand", {});
        bad_case("output in a missing directory",
                 {"run", "--input", in, "--weight", path("w.npy"), "--output", path("no/such/dir/y.npy")});

        // --device cuda: runs and matches on a GPU machine; one clean error line elsewhere.
        {
            const Result r = run(with({"--input", in, "--device", "cuda"}));
            const bool clean_error = r.status > 0 && r.err.rfind("convt3d: error: ", 0) == 0 &&
                                     r.err.find('\n') == r.err.size() - 1;
            check(r.signal == 0 && (r.status == 0 || clean_error),
                  "--device cuda: success with a GPU, else one error line (status " + std::to_string(r.status) +
                      ", stderr \"" + one_line(r.err) + "\")");
            if (r.status == 0) {
                good_case("CUDA run", params(4, 6, {3, 2, 2}, {2, 1, 2}, {1, 0, 1}, {1, 0, 0}, {1, 1, 1}, 2, true),
                          {2, 4, 3, 4, 5}, rng, {"--device", "cuda"});
            } else {
                std::printf("note: --device cuda not run against the reference (no CUDA device here)\n");
            }
        }
        const Result info = run({"info"});
        check(info.status == 0 && info.out.find("cpu kernels:") != std::string::npos,
              "info: exit 0 and lists the kernels");
        setenv("HL_NUM_THREADS", "1", 1);
        const Result one_thread = run({"info"});
        unsetenv("HL_NUM_THREADS");
        check(one_thread.status == 0 && one_thread.out.find("cpu threads used: 1\n") != std::string::npos,
              "info with HL_NUM_THREADS=1: says 1 CPU thread");
    } catch (const std::exception &e) {
        std::fprintf(stderr, "convt3d_cli_test: error: %s\n", e.what());
        return 1;
    }
    std::printf("%d checks, %d failed\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
