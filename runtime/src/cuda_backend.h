// The CUDA side of the runtime: device memory and the Halide CUDA context. Implemented in
// cuda_backend.cpp, or by cuda_unavailable.cpp in builds without CUDA.
#pragma once

#include <cstddef>

struct halide_buffer_t;

namespace convt3d::detail {

enum class CopyKind { host_to_device, device_to_host, device_to_device };

// All throw BackendError on failure (no driver, no device, out of memory).
void *cuda_malloc(std::size_t bytes);
void cuda_free(void *ptr) noexcept;
void cuda_memcpy(void *dst, const void *src, std::size_t bytes, CopyKind kind);
// Makes Halide use the CUDA runtime API's primary context, so that pointers from cudaMalloc
// are valid inside Halide kernels. Throws BackendError when no device is usable.
void cuda_prepare();
void cuda_wrap(halide_buffer_t *buf, const void *device_ptr);
void cuda_detach(halide_buffer_t *buf) noexcept;
// Waits for the kernel writing buf, so that launch errors surface here.
void cuda_sync(halide_buffer_t *buf);

}  // namespace convt3d::detail
