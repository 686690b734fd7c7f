// Reuse of large host buffers across calls: the kernels' intermediates and tensors' storage.
//
// Halide allocates a kernel's intermediates (the zero-padded copy of its input, packed
// weights) on every call. Blocks of tens of megabytes come from mmap and go back to the
// OS when freed, so each call page-faults its whole workspace in again, one fault per
// 4 KiB, and the kernel zeroes pages it then overwrites (vnet_up_k2s2's grad_input copies
// 67 MB of grad_output per call). Tensor storage is the same: the seed example's output is
// 247 MB, some 60000 pages to fault in and zero on every call that allocates it. The cache
// keeps freed blocks of at least kMinCachedBytes for the next call, up to a byte limit:
// CONVT3D_WORKSPACE_CACHE_MB (default 1024; 0 turns the cache off). CONVT3D_WORKSPACE_POISON=1 fills every block
// handed to a kernel with NaN, so that reading workspace a kernel did not write shows in
// its output (the tests set it).
#pragma once

#include <cstddef>

namespace convt3d::detail {

constexpr std::size_t kMinCachedBytes = std::size_t(1) << 20;

// Points Halide's allocator at the cache; once per process, before the first kernel runs.
void install_workspace_cache();

// Host memory through the same cache (aligned to 128 bytes; nullptr when out of memory), for
// tensors: a caller that drops each output before the next call gets the same block back.
void *workspace_allocate(std::size_t bytes);
void workspace_free(void *ptr);

}  // namespace convt3d::detail
