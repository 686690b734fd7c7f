#include "specialised_kernels.h"

#include "kernel_table.h"

#include <deque>
#include <mutex>

namespace convt3d {

namespace detail {

namespace {

// Registration happens during static initialisation, in whatever order the linker put the
// objects, so the registry is created on first use. A deque keeps the entries' addresses
// stable as it grows; entries are never removed.
struct Registry {
    std::mutex mutex;
    std::deque<SpecialisedKernel> kernels;
};

Registry &registry() {
    static Registry r;
    return r;
}

constexpr CpuIsa kIsasBestFirst[] = {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41};

std::string triple_to_string(const Triple &t) {
    return "(" + std::to_string(t[0]) + ", " + std::to_string(t[1]) + ", " + std::to_string(t[2]) + ")";
}

std::string describe_layer(const SpecialisedKernel &k) {
    const Params &l = k.layer;
    return "in_channels=" + std::to_string(l.in_channels) + ", out_channels=" + std::to_string(l.out_channels) +
           ", kernel_size=" + triple_to_string(l.kernel_size) + ", stride=" + triple_to_string(l.stride) +
           ", padding=" + triple_to_string(l.padding) + ", dilation=" + triple_to_string(l.dilation) +
           ", groups=" + std::to_string(l.groups);
}

// Among the kernels `accept` takes, the one for the forced ISA, else for the best ISA this
// CPU runs. The caller holds the registry's lock.
template<typename Accept>
const SpecialisedKernel *pick(const Registry &r, std::optional<CpuIsa> forced, Accept accept) {
    for (CpuIsa isa : kIsasBestFirst) {
        if ((forced && isa != *forced) || !cpu_supports(isa)) continue;
        for (const SpecialisedKernel &k : r.kernels) {
            if (k.cpu_isa == isa && accept(k)) return &k;
        }
    }
    return nullptr;
}

}  // namespace

bool specialised_matches(const SpecialisedKernel &k, const Params &p) {
    const Params &l = k.layer;
    return p.in_channels == l.in_channels && p.out_channels == l.out_channels && p.kernel_size == l.kernel_size &&
           p.stride == l.stride && p.padding == l.padding && p.dilation == l.dilation && p.groups == l.groups;
}

const SpecialisedKernel *find_specialised(const Params &p, std::optional<CpuIsa> forced) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return pick(r, forced, [&](const SpecialisedKernel &k) { return specialised_matches(k, p); });
}

const SpecialisedKernel *find_specialised_named(const std::string &name, const Params &p,
                                                std::optional<CpuIsa> forced) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const SpecialisedKernel *any = nullptr;
    std::string isas;
    for (const SpecialisedKernel &k : r.kernels) {
        if (k.name != name) continue;
        any = &k;
        isas += std::string(isas.empty() ? "" : ", ") + to_string(k.cpu_isa);
    }
    if (!any) return nullptr;
    if (!specialised_matches(*any, p)) {
        throw Error("convt3d: kernel='" + name + "' is compiled for one layer (" + describe_layer(*any) +
                    ") and these parameters differ");
    }
    if (const SpecialisedKernel *k = pick(r, forced, [&](const SpecialisedKernel &c) { return c.name == name; })) {
        return k;
    }
    throw Error("convt3d: kernel='" + name + "' is compiled for " + isas +
                (forced ? std::string(", not the forced cpu_isa=") + to_string(*forced)
                        : std::string(", which this CPU does not run")));
}

bool specialised_name_supports(const std::string &name, const Params &p, bool *supports) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const SpecialisedKernel &k : r.kernels) {
        if (k.name == name) {
            *supports = specialised_matches(k, p);
            return true;
        }
    }
    return false;
}

std::vector<std::string> specialised_names() {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<std::string> names;
    for (const SpecialisedKernel &k : r.kernels) {
        bool seen = false;
        for (const std::string &n : names) seen = seen || n == k.name;
        if (!seen && cpu_supports(k.cpu_isa)) names.push_back(k.name);
    }
    return names;
}

}  // namespace detail

bool register_kernel(const SpecialisedKernel &kernel) {
    const std::string what = "convt3d: register_kernel('" + kernel.name + "'): ";
    if (kernel.name.empty()) throw Error(what + "the name is empty");
    if (!kernel.function) throw Error(what + "function is null");
    for (std::size_t i = 0; i < detail::kNumForwardKernels; i++) {
        if (kernel.name == detail::kForwardKernels[i].name) throw Error(what + "a built-in kernel has this name");
    }
    validate(kernel.layer);  // Error naming the bad parameter

    detail::Registry &r = detail::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const SpecialisedKernel &k : r.kernels) {
        if (k.name != kernel.name) continue;
        if (!detail::specialised_matches(k, kernel.layer)) {
            throw Error(what + "already registered for another layer (" + detail::describe_layer(k) + ")");
        }
        if (k.cpu_isa == kernel.cpu_isa) {
            throw Error(what + "already registered for " + to_string(kernel.cpu_isa));
        }
    }
    r.kernels.push_back(kernel);
    return cpu_supports(kernel.cpu_isa);
}

}  // namespace convt3d
