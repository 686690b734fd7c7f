#include "workspace_cache.h"

#include "convt3d/convt3d.hpp"

#include "HalideRuntime.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace convt3d::detail {

namespace {

// Halide's own allocator aligns to 128 bytes on x86-64 and callers rely on it.
constexpr std::size_t kAlignment = 128;

bool poison_from_environment() {
    const char *env = std::getenv("CONVT3D_WORKSPACE_POISON");
    return env && *env && std::string(env) != "0";
}

std::size_t limit_from_environment() {
    const char *env = std::getenv("CONVT3D_WORKSPACE_CACHE_MB");
    if (!env || !*env) return std::size_t(1024) << 20;
    char *end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (*end != '\0' || mb < 0 || mb > (1LL << 30)) {
        throw Error(std::string("convt3d: CONVT3D_WORKSPACE_CACHE_MB='") + env +
                    "' is not a number of megabytes from 0 to 1073741824");
    }
    return std::size_t(mb) << 20;
}

struct Block {
    void *ptr;
    std::size_t bytes;
};

class WorkspaceCache {
public:
    WorkspaceCache(std::size_t limit, bool poison) : limit_(limit), poison_(poison) {}

    void *allocate(std::size_t bytes) {
        // A whole number of alignments, and never zero (aligned_alloc may answer a zero-byte
        // request with nullptr, which Halide takes for out of memory).
        bytes = std::max<std::size_t>(1, (bytes + kAlignment - 1) / kAlignment) * kAlignment;
        void *ptr = take(bytes);
        // All bits set is a NaN in every float, so a kernel that reads workspace it did not
        // write (which fresh zero pages would hide) shows in its output.
        if (ptr && poison_) std::memset(ptr, 0xff, bytes);
        return ptr;
    }

    void release(void *ptr) {
        if (!ptr) return;
        std::unique_lock<std::mutex> lock(mutex_);
        auto it = in_use_.find(ptr);
        if (it == in_use_.end()) {  // a small block: never cached
            lock.unlock();
            std::free(ptr);
            return;
        }
        const Block b{ptr, it->second};
        in_use_.erase(it);
        if (b.bytes > limit_) {
            lock.unlock();
            std::free(ptr);
            return;
        }
        // Oldest first out, until the newly freed block fits under the limit.
        while (free_bytes_ + b.bytes > limit_) {
            std::free(free_.front().ptr);
            free_bytes_ -= free_.front().bytes;
            free_.pop_front();
        }
        free_.push_back(b);
        free_bytes_ += b.bytes;
    }

    void release_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Block &b : free_) std::free(b.ptr);
        free_.clear();
        free_bytes_ = 0;
    }

    WorkspaceStats stats() {
        std::lock_guard<std::mutex> lock(mutex_);
        return {free_bytes_, free_.size(), reuses_};
    }

private:
    // A cached block that fits, or a new one (kept track of when it is large enough to cache).
    void *take(std::size_t bytes) {
        if (bytes < kMinCachedBytes || limit_ == 0) return std::aligned_alloc(kAlignment, bytes);
        std::lock_guard<std::mutex> lock(mutex_);
        // The smallest free block that fits and wastes at most half of itself.
        auto best = free_.end();
        for (auto it = free_.begin(); it != free_.end(); ++it) {
            if (it->bytes >= bytes && it->bytes / 2 <= bytes && (best == free_.end() || it->bytes < best->bytes)) best = it;
        }
        if (best != free_.end()) {
            Block b = *best;
            free_.erase(best);
            free_bytes_ -= b.bytes;
            in_use_[b.ptr] = b.bytes;
            reuses_++;
            return b.ptr;
        }
        void *ptr = std::aligned_alloc(kAlignment, bytes);
        if (ptr) in_use_[ptr] = bytes;
        return ptr;
    }

    const std::size_t limit_;
    const bool poison_;
    std::mutex mutex_;
    std::deque<Block> free_;
    std::size_t free_bytes_ = 0;
    std::unordered_map<void *, std::size_t> in_use_;
    std::size_t reuses_ = 0;
};

// Never destroyed: kernels may still free their blocks while the process exits.
WorkspaceCache &cache() {
    static WorkspaceCache *c = new WorkspaceCache(limit_from_environment(), poison_from_environment());
    return *c;
}

extern "C" void *cached_halide_malloc(void *, std::size_t bytes) { return cache().allocate(bytes); }
extern "C" void cached_halide_free(void *, void *ptr) { cache().release(ptr); }

}  // namespace

void install_workspace_cache() {
    static std::once_flag once;
    std::call_once(once, [] {
        cache();  // reads (and checks) the environment before any kernel allocates
        halide_set_custom_malloc(cached_halide_malloc);
        halide_set_custom_free(cached_halide_free);
    });
}

void *workspace_allocate(std::size_t bytes) { return cache().allocate(bytes); }
void workspace_free(void *ptr) { cache().release(ptr); }

}  // namespace convt3d::detail

namespace convt3d {

void release_workspace() { detail::cache().release_all(); }

WorkspaceStats workspace_stats() { return detail::cache().stats(); }

}  // namespace convt3d
