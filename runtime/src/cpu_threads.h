// The thread pool that every CPU kernel of the process shares (Halide's), and the lock that
// keeps set_cpu_threads from restarting it under a running kernel.
#pragma once

#include <shared_mutex>

namespace convt3d::detail {

// Held, shared, for the duration of each kernel call.
std::shared_lock<std::shared_mutex> hold_thread_pool();

}  // namespace convt3d::detail
