// Reuse of the kernels' large intermediate buffers across calls.
//
// Halide allocates a kernel's intermediates (the zero-padded copy of its input, packed
// weights) on every call. Blocks of tens of megabytes come from mmap and go back to the
// OS when freed, so each call page-faults its whole workspace in again, one fault per
// 4 KiB, and the kernel zeroes pages it then overwrites (vnet_up_k2s2's grad_input copies
// 67 MB of grad_output per call). The cache keeps freed blocks of at least
// kMinCachedBytes for the next call, up to a byte limit: CONVT3D_WORKSPACE_CACHE_MB
// (default 1024; 0 turns the cache off). CONVT3D_WORKSPACE_POISON=1 fills every block
// handed to a kernel with NaN, so that reading workspace a kernel did not write shows in
// its output (the tests set it).
#pragma once

#include <cstddef>

namespace convt3d::detail {

constexpr std::size_t kMinCachedBytes = std::size_t(1) << 20;

// Points Halide's allocator at the cache; once per process, before the first kernel runs.
void install_workspace_cache();

}  // namespace convt3d::detail
