#include "backward_kernel_table.h"

#include "backward_kernel_table.inc"

#include <iterator>

namespace convt3d::detail {

std::string BackwardTarget::describe() const {
    return cpu_isa ? std::string(to_string(device)) + " (" + to_string(*cpu_isa) + ")" : to_string(device);
}

BackwardTable<grad_input_fn> grad_input_table() {
    return {k_grad_input_kernels, std::size(k_grad_input_kernels), "grad_input"};
}
BackwardTable<grad_weight_fn> grad_weight_table() {
    return {k_grad_weight_kernels, std::size(k_grad_weight_kernels), "grad_weight"};
}
BackwardTable<grad_bias_fn> grad_bias_table() {
    return {k_grad_bias_kernels, std::size(k_grad_bias_kernels), "grad_bias"};
}

namespace {

template<typename Fn>
std::vector<std::string> names(const BackwardTable<Fn> &t, const BackwardTarget &target) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < t.size; i++) {
        if (backward_function(t.entries[i], target)) out.emplace_back(t.entries[i].name);
    }
    return out;
}

}  // namespace

}  // namespace convt3d::detail

namespace convt3d {

std::vector<std::string> backward_kernel_names(const std::string &gradient, Device device,
                                               std::optional<CpuIsa> cpu_isa) {
    const detail::BackwardTarget target{device, device == Device::cpu ? cpu_isa : std::nullopt};
    if (gradient == "grad_input") return detail::names(detail::grad_input_table(), target);
    if (gradient == "grad_weight") return detail::names(detail::grad_weight_table(), target);
    if (gradient == "grad_bias") return detail::names(detail::grad_bias_table(), target);
    return {};
}

bool backward_kernel_supports(const std::string &gradient, const std::string &kernel, const Params &p) {
    auto supports = [&](const auto &table) {
        for (std::size_t i = 0; i < table.size; i++) {
            if (kernel == table.entries[i].name) return detail::backward_entry_supports(table.entries[i], p);
        }
        return false;
    };
    if (gradient == "grad_input") return supports(detail::grad_input_table());
    if (gradient == "grad_weight") return supports(detail::grad_weight_table());
    if (gradient == "grad_bias") return supports(detail::grad_bias_table());
    return false;
}

}  // namespace convt3d
