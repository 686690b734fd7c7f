// Stands in for cuda_backend.cpp in builds configured with CONVT3D_ENABLE_CUDA=OFF.
#include "cuda_backend.h"

#include "convt3d/convt3d.hpp"

namespace convt3d::detail {

namespace {
[[noreturn]] void unavailable() {
    throw BackendError("convt3d: this build has no CUDA support (configured with CONVT3D_ENABLE_CUDA=OFF)");
}
}  // namespace

void *cuda_malloc(std::size_t) { unavailable(); }
void cuda_free(void *) noexcept {}
void cuda_memcpy(void *, const void *, std::size_t, CopyKind) { unavailable(); }
void cuda_prepare() { unavailable(); }
void cuda_wrap(halide_buffer_t *, const void *) { unavailable(); }
void cuda_detach(halide_buffer_t *) noexcept {}
void cuda_sync(halide_buffer_t *) { unavailable(); }

}  // namespace convt3d::detail

namespace convt3d {
bool cuda_available() { return false; }
}  // namespace convt3d
