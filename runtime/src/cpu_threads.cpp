#include "cpu_threads.h"

#include "convt3d/convt3d.hpp"

#include "HalideRuntime.h"

#include <mutex>
#include <string>

namespace convt3d {

namespace {

std::shared_mutex &pool_mutex() {
    static std::shared_mutex m;
    return m;
}

// The count in effect; the caller holds pool_mutex. 0 until the pool first starts; setting 0
// fixes the count the pool would start with.
int current_threads() {
    if (halide_get_num_threads() == 0) halide_set_num_threads(0);
    return halide_get_num_threads();
}

}  // namespace

namespace detail {

std::shared_lock<std::shared_mutex> hold_thread_pool() { return std::shared_lock(pool_mutex()); }

}  // namespace detail

int cpu_threads() {
    std::shared_lock lock(pool_mutex());
    return current_threads();
}

int set_cpu_threads(int threads) {
    if (threads < 0) {
        throw Error("convt3d: threads=" + std::to_string(threads) + " must be 0 (the default) or more");
    }
    std::unique_lock lock(pool_mutex());
    const int before = current_threads();  // under the same lock as the change
    // Halide's pool keeps the workers it started (and idle ones join any loop), so a smaller
    // count takes effect only on a pool started again.
    halide_shutdown_thread_pool();
    halide_set_num_threads(threads);
    return before;
}

}  // namespace convt3d
