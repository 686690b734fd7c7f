// Forward kernels compiled for one layer and registered at start-up (register_kernel), which
// dispatch tries before the built-in table.
#pragma once

#include "convt3d/convt3d.hpp"

#include <optional>
#include <string>
#include <vector>

namespace convt3d::detail {

// Whether k was compiled for exactly these parameters (batch, spatial sizes,
// output_padding and bias are free).
bool specialised_matches(const SpecialisedKernel &k, const Params &p);

// The registered kernel for p that this CPU runs, on the `forced` ISA only when one is
// forced, else on the best ISA registered; nullptr when there is none.
const SpecialisedKernel *find_specialised(const Params &p, std::optional<CpuIsa> forced);

// The same among the kernels registered as `name`: nullptr when no kernel has that name,
// Error when it has but cannot run p here (other parameters, ISA not forced or not on
// this CPU).
const SpecialisedKernel *find_specialised_named(const std::string &name, const Params &p,
                                                std::optional<CpuIsa> forced);

// Whether some kernel is registered as `name`, and then (in *supports) whether it fits p.
bool specialised_name_supports(const std::string &name, const Params &p, bool *supports);

// Names of the registered kernels this CPU runs, in registration order, each once.
std::vector<std::string> specialised_names();

}  // namespace convt3d::detail
