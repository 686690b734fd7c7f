// CUDA backend. cudart is linked statically, so a machine without a driver still loads the
// library; every CUDA failure becomes a BackendError. Halide is told to run in the runtime
// API's primary context, where pointers from cudaMalloc (ours or the user's) live.
#include "cuda_backend.h"

#include "convt3d/convt3d.hpp"

#include "HalideRuntime.h"
#include "HalideRuntimeCuda.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <mutex>

namespace convt3d::detail {

namespace {

using CtxGetCurrentFn = int (*)(void **);  // CUresult cuCtxGetCurrent(CUcontext *)
CtxGetCurrentFn ctx_get_current = nullptr;

void check(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    cudaGetLastError();  // clear the sticky-free error state for the next call
    throw BackendError(std::string("convt3d: CUDA ") + what + " failed: " + cudaGetErrorName(e) + ": " +
                       cudaGetErrorString(e));
}

extern "C" int acquire_primary_context(void *, void **ctx, bool) {
    // cudaFree(nullptr) makes the primary context current on this thread.
    if (cudaFree(nullptr) != cudaSuccess) return halide_error_code_generic_error;
    return ctx_get_current(ctx) == 0 ? 0 : halide_error_code_generic_error;
}

extern "C" int release_context(void *) { return 0; }

extern "C" int default_stream(void *, void *, void **stream) {
    *stream = nullptr;  // the legacy default stream, which orders with cudaMemcpy
    return 0;
}

void install_context_handlers() {
    int count = 0;
    check(cudaGetDeviceCount(&count), "device query");
    if (count == 0) throw BackendError("convt3d: CUDA device requested but no CUDA device is present");
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    check(cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, CUDART_VERSION, cudaEnableDefault, &found),
          "driver entry point lookup");
    if (!fn || found != cudaDriverEntryPointSuccess) {
        throw BackendError("convt3d: the CUDA driver does not provide cuCtxGetCurrent");
    }
    ctx_get_current = reinterpret_cast<CtxGetCurrentFn>(fn);
    // Halide's CUDA runtime caps every kernel at 64 registers when it loads the PTX, unless
    // HL_CUDA_JIT_MAX_REGISTERS says otherwise (read at each module load). The register tiles
    // of the CUDA schedules need more (ptxas: up to ~130), and at 64 they spill to local
    // memory. Set before any kernel loads; a value the user set wins.
    setenv("HL_CUDA_JIT_MAX_REGISTERS", "255", /*overwrite=*/0);
    halide_set_cuda_acquire_context(acquire_primary_context);
    halide_set_cuda_release_context(release_context);
    halide_set_cuda_get_stream(default_stream);
}

}  // namespace

void *cuda_malloc(std::size_t bytes) {
    void *p = nullptr;
    check(cudaMalloc(&p, bytes), ("allocation of " + std::to_string(bytes) + " bytes").c_str());
    return p;
}

void cuda_free(void *ptr) noexcept { cudaFree(ptr); }

void cuda_memcpy(void *dst, const void *src, std::size_t bytes, CopyKind kind) {
    const cudaMemcpyKind k = kind == CopyKind::host_to_device   ? cudaMemcpyHostToDevice
                             : kind == CopyKind::device_to_host ? cudaMemcpyDeviceToHost
                                                                : cudaMemcpyDeviceToDevice;
    check(cudaMemcpy(dst, src, bytes, k), "copy");
}

void cuda_prepare() {
    static std::once_flag once;
    std::call_once(once, install_context_handlers);  // retried on the next call if it threw
}

void cuda_wrap(halide_buffer_t *buf, const void *device_ptr) {
    if (halide_cuda_wrap_device_ptr(nullptr, buf, reinterpret_cast<uint64_t>(device_ptr)) != 0) {
        throw BackendError("convt3d: could not wrap a CUDA device pointer for Halide");
    }
}

void cuda_detach(halide_buffer_t *buf) noexcept { halide_cuda_detach_device_ptr(nullptr, buf); }

void cuda_sync(halide_buffer_t *buf) {
    if (halide_device_sync(nullptr, buf) != 0) throw BackendError("convt3d: CUDA kernel failed while running");
    check(cudaGetLastError(), "kernel launch");
}

}  // namespace convt3d::detail

namespace convt3d {

bool cuda_available() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    return count > 0;
}

}  // namespace convt3d
