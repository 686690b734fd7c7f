// convt3d: run ConvTranspose3d (torch.nn.ConvTranspose3d semantics) on .npy files.
//   convt3d run --input x.npy --weight w.npy [--bias b.npy] --output y.npy
//               [--in-channels 16] [--out-channels 33] [--kernel-size 3,5,2] [--stride 2,1,1]
//               [--padding 0,4,2] [--output-padding ..] [--dilation ..] [--groups 1]
//               [--padding-mode zeros] [--device cpu|cuda] [--kernel NAME] [--isa avx512|avx2|sse41]
//   convt3d backward --input x.npy --weight w.npy --grad-output g.npy
//               [--grad-input gx.npy] [--grad-weight gw.npy] [--grad-bias gb.npy] [same flags as run]
//   convt3d info
// `backward` writes the requested gradients given grad_output = dL/d(output) (at least one;
// --grad-bias means the module has a bias). Spatial flags take an int or a D,H,W triple. in_channels, out_channels and kernel_size
// default to what the weight's shape (Cin, Cout/groups, kD, kH, kW) says. Only float32
// little-endian C-order .npy files are read. Every failure is one stderr line
// "convt3d: error: ..." and a non-zero exit status (2 for command-line syntax, 1 otherwise).
#include "npy_io.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <sstream>
#include <thread>

using namespace convt3d;
using convt3d::cli::load_npy;
using convt3d::cli::save_npy;

namespace {

// "3" or "3,5,2" -> (D, H, W).
Triple parse_triple(const std::string &text, const char *flag) {
    std::vector<int64_t> v;
    std::stringstream s(text);
    std::string item;
    while (std::getline(s, item, ',')) {
        try {
            size_t used = 0;
            v.push_back(std::stoll(item, &used));
            if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::exception &) {
            throw CLI::ValidationError(flag, "'" + text + "' is not an int or a comma-separated triple");
        }
    }
    if (v.size() == 1) return {v[0], v[0], v[0]};
    if (v.size() == 3) return {v[0], v[1], v[2]};
    throw CLI::ValidationError(flag, "'" + text + "' must be one int or three comma-separated ints");
}

// The module's parameters and the dispatch flags, shared by `run` and `backward`.
struct LayerOptions {
    int64_t in_channels = 0, out_channels = 0, groups = 1;
    std::string kernel_size, stride = "1", padding = "0", output_padding = "0", dilation = "1";
    std::string padding_mode = "zeros", device = "cpu", kernel, isa;
    int threads = 0;  // 0: the library's default
};

struct RunOptions : LayerOptions {
    std::string input, weight, bias, output;
};

struct BackwardOptions : LayerOptions {
    std::string input, weight, grad_output, grad_input, grad_weight, grad_bias;
};

// Flags checked before any file is read, so that a typo is reported first.
struct Layer {
    Device device = Device::cpu;
    std::optional<Triple> kernel_size;
    Triple stride{}, padding{}, output_padding{}, dilation{};
    DispatchOptions opts;
};

Layer parse_layer(const LayerOptions &o) {
    Layer l;
    l.device = o.device == "cuda" ? Device::cuda : Device::cpu;
    l.kernel_size =
        o.kernel_size.empty() ? std::nullopt : std::optional<Triple>(parse_triple(o.kernel_size, "--kernel-size"));
    l.stride = parse_triple(o.stride, "--stride");
    l.padding = parse_triple(o.padding, "--padding");
    l.output_padding = parse_triple(o.output_padding, "--output-padding");
    l.dilation = parse_triple(o.dilation, "--dilation");
    if (o.groups < 1) throw Error("--groups must be positive, got " + std::to_string(o.groups));
    if (l.device == Device::cuda && !cuda_available()) {
        throw BackendError("--device cuda: no CUDA device (or no CUDA driver) on this machine");
    }
    l.opts.kernel = o.kernel;
    if (!o.isa.empty()) l.opts.cpu_isa = parse_cpu_isa(o.isa);
    if (o.threads > 0) set_cpu_threads(o.threads);
    return l;
}

Tensor load_input(const std::string &path) {
    Tensor x = load_npy(path, "input");
    if (x.shape().size() != 4 && x.shape().size() != 5) {
        throw Error("input shape " + shape_to_string(x.shape()) +
                    " must have rank 5 (N, C, D, H, W) or 4 (C, D, H, W)");
    }
    return x;
}

Tensor load_weight(const std::string &path) {
    Tensor w = load_npy(path, "weight");
    if (w.shape().size() != 5) {
        throw Error("weight shape " + shape_to_string(w.shape()) + " must have rank 5 (Cin, Cout/groups, kD, kH, kW)");
    }
    return w;
}

// in_channels, out_channels and kernel_size default to what the weight's shape says.
Params make_params(const LayerOptions &o, const Layer &l, const Tensor &w, bool bias) {
    Params p;
    p.groups = o.groups;
    p.in_channels = o.in_channels ? o.in_channels : w.shape()[0];
    p.out_channels = o.out_channels ? o.out_channels : w.shape()[1] * o.groups;
    p.kernel_size = l.kernel_size ? *l.kernel_size : Triple{w.shape()[2], w.shape()[3], w.shape()[4]};
    p.stride = l.stride;
    p.padding = l.padding;
    p.output_padding = l.output_padding;
    p.dilation = l.dilation;
    p.padding_mode = o.padding_mode;
    p.bias = bias;
    return p;
}

int run(const RunOptions &o) {
    const Layer l = parse_layer(o);
    Tensor x = load_input(o.input);
    Tensor w = load_weight(o.weight);
    const Params p = make_params(o, l, w, !o.bias.empty());
    Tensor b = p.bias ? load_npy(o.bias, "bias") : Tensor();
    if (p.bias && b.shape().size() != 1) {
        throw Error("bias shape " + shape_to_string(b.shape()) + " must have rank 1 (out_channels)");
    }

    const Tensor xd = x.to(l.device), wd = w.to(l.device);
    const Tensor bd = p.bias ? b.to(l.device) : Tensor();
    Tensor y(output_shape(p, x.shape()), l.device);
    const ConstTensorView bias_view = p.bias ? bd.view() : ConstTensorView{};
    const KernelChoice choice =
        conv_transpose3d(xd.view(), wd.view(), p.bias ? &bias_view : nullptr, y.view(), p, l.opts);
    save_npy(o.output, y);
    std::printf("output shape %s written to %s\nkernel: %s\n", shape_to_string(y.shape()).c_str(),
                o.output.c_str(), choice.describe().c_str());
    return 0;
}

int backward(const BackwardOptions &o) {
    const Layer l = parse_layer(o);
    const GradientRequest which{!o.grad_input.empty(), !o.grad_weight.empty(), !o.grad_bias.empty()};
    if (!which.input && !which.weight && !which.bias) {
        throw Error("backward needs at least one of --grad-input, --grad-weight, --grad-bias");
    }
    const Tensor x = load_input(o.input);
    const Tensor w = load_weight(o.weight);
    const Params p = make_params(o, l, w, which.bias);
    const Tensor g = load_npy(o.grad_output, "grad_output");
    const Gradients grads = conv_transpose3d_backward(g.to(l.device), x.to(l.device), w.to(l.device), p, which, l.opts);
    const std::pair<const std::string *, const Tensor *> outputs[] = {
        {&o.grad_input, &grads.grad_input}, {&o.grad_weight, &grads.grad_weight}, {&o.grad_bias, &grads.grad_bias}};
    for (const auto &[path, t] : outputs) {
        if (path->empty()) continue;
        save_npy(*path, *t);
        std::printf("gradient of shape %s written to %s\n", shape_to_string(t->shape()).c_str(), path->c_str());
    }
    return 0;
}

int info() {
    std::printf("cpu isa: %s (supported:", to_string(best_cpu_isa()));
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41}) {
        if (cpu_supports(isa)) std::printf(" %s", to_string(isa));
    }
    std::printf(")\nhardware threads: %u\ncpu threads used: %d\ncuda available: %s\n",
                std::thread::hardware_concurrency(), cpu_threads(), cuda_available() ? "yes" : "no");
    for (Device d : {Device::cpu, Device::cuda}) {
        std::printf("%s kernels:", to_string(d));
        for (const auto &k : kernel_names(d)) std::printf(" %s", k.c_str());
        std::printf("\n");
        for (const char *g : {"grad_input", "grad_weight", "grad_bias"}) {
            std::printf("%s %s kernels:", to_string(d), g);
            for (const auto &k : backward_kernel_names(g, d)) std::printf(" %s", k.c_str());
            std::printf("\n");
        }
    }
    return 0;
}

// Every failure is one line on stderr, "convt3d: error: ...", and a non-zero exit status.
int fail(std::string msg, int status = 1) {
    if (msg.rfind("convt3d: ", 0) == 0) msg = msg.substr(9);  // the library's own prefix
    for (char &c : msg) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    std::fprintf(stderr, "convt3d: error: %s\n", msg.c_str());
    return status;
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"convt3d: 3-D transposed convolution (torch.nn.ConvTranspose3d semantics) on .npy files"};
    app.require_subcommand(1);
    // The module's parameters and dispatch flags, on `run` and `backward` alike.
    auto add_layer_flags = [](CLI::App *cmd, LayerOptions &o) {
        cmd->add_option("--in-channels", o.in_channels, "default: weight.shape[0]");
        cmd->add_option("--out-channels", o.out_channels, "default: weight.shape[1] * groups");
        cmd->add_option("--kernel-size", o.kernel_size, "int or D,H,W; default: from the weight");
        cmd->add_option("--stride", o.stride, "int or D,H,W")->capture_default_str();
        cmd->add_option("--padding", o.padding, "int or D,H,W")->capture_default_str();
        cmd->add_option("--output-padding", o.output_padding, "int or D,H,W")->capture_default_str();
        cmd->add_option("--dilation", o.dilation, "int or D,H,W")->capture_default_str();
        cmd->add_option("--groups", o.groups)->capture_default_str();
        cmd->add_option("--padding-mode", o.padding_mode)->capture_default_str();
        cmd->add_option("--device", o.device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
        cmd->add_option("--kernel", o.kernel, "force a kernel variant (see `convt3d info`)");
        cmd->add_option("--isa", o.isa, "force a CPU variant")->check(CLI::IsMember({"avx512", "avx2", "sse41"}));
        cmd->add_option("--threads", o.threads, "CPU threads (default: HL_NUM_THREADS, else every CPU)")
            ->check(CLI::Range(1, 4096));
    };
    RunOptions o;
    CLI::App *run_cmd = app.add_subcommand("run", "run the forward pass");
    run_cmd->add_option("--input", o.input, "input .npy, (N, C, D, H, W) or (C, D, H, W) float32")->required();
    run_cmd->add_option("--weight", o.weight, "weight .npy, (Cin, Cout/groups, kD, kH, kW)")->required();
    run_cmd->add_option("--bias", o.bias, "bias .npy, (Cout); omit for bias=False");
    run_cmd->add_option("--output", o.output, "output .npy to write")->required();
    add_layer_flags(run_cmd, o);
    BackwardOptions bo;
    CLI::App *backward_cmd = app.add_subcommand("backward", "gradients w.r.t. input, weight and bias");
    backward_cmd->add_option("--input", bo.input, "input .npy of the forward pass")->required();
    backward_cmd->add_option("--weight", bo.weight, "weight .npy, (Cin, Cout/groups, kD, kH, kW)")->required();
    backward_cmd->add_option("--grad-output", bo.grad_output, "dL/d(output) .npy, the output's shape")->required();
    backward_cmd->add_option("--grad-input", bo.grad_input, "dL/d(input) .npy to write");
    backward_cmd->add_option("--grad-weight", bo.grad_weight, "dL/d(weight) .npy to write");
    backward_cmd->add_option("--grad-bias", bo.grad_bias, "dL/d(bias) .npy to write (the module has a bias)");
    add_layer_flags(backward_cmd, bo);
    app.add_subcommand("info", "CPU ISA, CUDA availability and compiled kernels");

    try {
        app.parse(argc, argv);
    } catch (const CLI::Success &e) {  // --help
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        return fail(e.what(), 2);
    }
    try {
        if (run_cmd->parsed()) return run(o);
        if (backward_cmd->parsed()) return backward(bo);
        return info();
    } catch (const std::exception &e) {
        return fail(e.what());
    } catch (...) {
        return fail("unknown exception");
    }
}
