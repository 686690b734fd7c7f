// Which CPU kernel variants this machine can run. The checks match the Halide target
// features each variant is compiled with (cmake/Convt3dKernels.cmake).
#include "convt3d/convt3d.hpp"

namespace convt3d {

const char *to_string(CpuIsa isa) {
    switch (isa) {
    case CpuIsa::avx512: return "avx512";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::sse41: return "sse41";
    }
    return "?";
}

std::optional<CpuIsa> parse_cpu_isa(const std::string &name) {
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41}) {
        if (name == to_string(isa)) return isa;
    }
    return std::nullopt;
}

bool cpu_supports(CpuIsa isa) {
    __builtin_cpu_init();
    switch (isa) {
    case CpuIsa::avx512:  // Halide's avx512_skylake: F, CD, VL, BW, DQ
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && cpu_supports(CpuIsa::avx2);
    case CpuIsa::avx2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx") &&
               cpu_supports(CpuIsa::sse41);
    case CpuIsa::sse41:
        return __builtin_cpu_supports("sse4.1");
    }
    return false;
}

CpuIsa best_cpu_isa() {
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::sse41}) {
        if (cpu_supports(isa)) return isa;
    }
    throw BackendError("convt3d: this CPU lacks SSE4.1, the oldest instruction set the kernels are built for");
}

}  // namespace convt3d
