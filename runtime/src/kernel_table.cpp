#include "kernel_table.h"

#include "forward_kernel_table.inc"
#include "specialised_kernels.h"

#include <cstdlib>
#include <iterator>

namespace convt3d::detail {

const std::size_t kNumForwardKernels = std::size(kForwardKernels);

namespace {

bool all_equal(const Triple &t, int64_t v) { return t[0] == v && t[1] == v && t[2] == v; }

ForwardKernelFn function_for(const ForwardKernelEntry &e, Device device) {
    if (device == Device::cuda) return e.cuda;
    return e.cpu[0];  // CPU kernels exist for every ISA or none
}

}  // namespace

bool entry_supports(const ForwardKernelEntry &e, const Params &p) {
    return (e.stride == 0 || all_equal(p.stride, e.stride)) &&
           (e.kernel == 0 || all_equal(p.kernel_size, e.kernel)) &&
           (e.dilation == 0 || all_equal(p.dilation, e.dilation)) && (e.groups == 0 || p.groups == e.groups) &&
           has_group_in_channels(e.group_in_channels, p) &&
           p.out_channels >= e.min_out_channels;
}

const ForwardKernelEntry &find_kernel(const std::string &name, Device device) {
    for (const auto &e : kForwardKernels) {
        if (name == e.name && function_for(e, device)) return e;
    }
    throw Error("convt3d: kernel='" + name + "' is not a compiled " + to_string(device) + " kernel");
}

const ForwardKernelEntry &select_kernel(const Params &p, Device device, const DispatchOptions &opts) {
    if (!opts.kernel.empty()) {
        const ForwardKernelEntry &e = find_kernel(opts.kernel, device);
        if (!entry_supports(e, p)) {
            throw Error("convt3d: kernel='" + opts.kernel + "' does not support these parameters "
                        "(it needs stride=" + std::to_string(e.stride) + ", kernel_size=" +
                        std::to_string(e.kernel) + ", dilation=" + std::to_string(e.dilation) +
                        " on every axis, groups=" + std::to_string(e.groups) + ", input channels per group=" +
                        std::to_string(e.group_in_channels) + "; 0 means any)");
        }
        return e;
    }
    for (const auto &e : kForwardKernels) {
        if (function_for(e, device) && entry_supports(e, p)) return e;
    }
    throw BackendError(std::string("convt3d: no ") + to_string(device) +
                       " kernel was compiled into this build");
}

std::optional<CpuIsa> forced_cpu_isa(const DispatchOptions &opts) {
    std::optional<CpuIsa> isa = opts.cpu_isa;
    if (!isa) {
        if (const char *env = std::getenv("CONVT3D_CPU_ISA"); env && *env) {
            isa = parse_cpu_isa(env);
            if (!isa) {
                throw Error(std::string("convt3d: CONVT3D_CPU_ISA='") + env +
                            "' is not one of avx512, avx2, sse41");
            }
        }
    }
    if (isa && !cpu_supports(*isa)) {
        throw Error(std::string("convt3d: cpu_isa=") + to_string(*isa) + " is not supported by this CPU");
    }
    return isa;
}

CpuIsa select_cpu_isa(const DispatchOptions &opts) {
    const std::optional<CpuIsa> isa = forced_cpu_isa(opts);
    return isa ? *isa : best_cpu_isa();
}

Params per_group_params(const Params &p) {
    Params g = p;
    g.in_channels = p.in_channels / p.groups;
    g.out_channels = p.out_channels / p.groups;
    g.groups = 1;
    return g;
}

bool may_split_groups(const Params &p, Device device, const std::string &forced) {
    return device == Device::cpu && p.groups > 1 && forced.empty();
}

namespace {

// Below this many output channels per group, a groups == 1 kernel's channel tiles would be
// mostly empty, and one call per group costs more than it saves.
constexpr int64_t kMinOutChannelsPerGroupToSplit = 8;

}  // namespace

ForwardDispatch select_forward(const Params &p, Device device, const DispatchOptions &opts) {
    if (device == Device::cuda) {
        const ForwardKernelEntry &e = select_kernel(p, device, opts);
        return {{e.name, device, std::nullopt, e.cuda_tuned ? "tuned" : "hand-written"}, e.cuda};
    }
    const std::optional<CpuIsa> forced = forced_cpu_isa(opts);
    const SpecialisedKernel *k =
        opts.kernel.empty() ? find_specialised(p, forced) : find_specialised_named(opts.kernel, p, forced);
    if (k) return {{k->name, device, k->cpu_isa, ""}, k->function};  // no schedule: specialised to one layer
    if (may_split_groups(p, device, opts.kernel) && p.out_channels / p.groups >= kMinOutChannelsPerGroupToSplit) {
        ForwardDispatch d = select_forward(per_group_params(p), device, opts);
        if (!convt3d::kernel_supports(d.choice.kernel, p)) {
            d.choice.group_calls = p.groups;
            return d;
        }
    }
    const ForwardKernelEntry &e = select_kernel(p, device, opts);
    const CpuIsa isa = forced ? *forced : best_cpu_isa();
    const int i = static_cast<int>(isa);
    return {{e.name, device, isa, e.tuned[i] ? "tuned" : "hand-written"}, e.cpu[i]};
}

}  // namespace convt3d::detail

namespace convt3d {

std::vector<std::string> kernel_names(Device device) {
    std::vector<std::string> names;
    if (device == Device::cpu) names = detail::specialised_names();
    for (const auto &e : detail::kForwardKernels) {
        if (detail::function_for(e, device)) names.emplace_back(e.name);
    }
    return names;
}

bool kernel_supports(const std::string &kernel, const Params &p) {
    if (bool supports = false; detail::specialised_name_supports(kernel, p, &supports)) return supports;
    for (const auto &e : detail::kForwardKernels) {
        if (kernel == e.name) return detail::entry_supports(e, p);
    }
    return false;
}

KernelChoice choose_kernel(const Params &p, Device device, const DispatchOptions &opts) {
    validate(p);
    return detail::select_forward(p, device, opts).choice;
}

std::string KernelChoice::describe() const {
    // "k2s2 on cpu (avx2, tuned schedule)", "generic on cuda (hand-written schedule)"
    std::string details = cpu_isa ? to_string(*cpu_isa) : "";
    if (!schedule.empty()) details += (details.empty() ? "" : ", ") + schedule + " schedule";
    if (group_calls > 1) {
        details += (details.empty() ? "" : ", ") + std::string("one call per group (") + std::to_string(group_calls) + ")";
    }
    return kernel + " on " + to_string(device) + (details.empty() ? "" : " (" + details + ")");
}

}  // namespace convt3d
