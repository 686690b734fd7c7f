#include "view_checks.h"

#include <climits>
#include <cstdint>
#include <cstdlib>

namespace convt3d::detail {

void fail(const std::string &msg) { throw Error("convt3d: " + msg); }

bool verbose() {
    const char *v = std::getenv("CONVT3D_VERBOSE");
    return v && *v && std::string(v) != "0";
}

void check_view(const ConstTensorView &v, const char *name, const Shape &expected, Device device) {
    if (!v.data) fail(std::string(name) + ".data is null");
    if (v.shape != expected) {
        fail(std::string(name) + " shape " + shape_to_string(v.shape) + " does not match the expected " +
             shape_to_string(expected));
    }
    if (v.device != device) {
        fail(std::string(name) + " is on " + to_string(v.device) + " but input is on " + to_string(device));
    }
    // The kernels index with 32-bit integers (Halide buffers without large_buffers).
    if (numel(v.shape, name) > INT32_MAX) {
        fail(std::string(name) + " shape " + shape_to_string(v.shape) + " has more than 2^31-1 elements, "
             "the limit of the compiled kernels");
    }
}

bool overlaps(const void *a, int64_t a_count, const void *b, int64_t b_count) {
    auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return pa < pb + b_count * sizeof(float) && pb < pa + a_count * sizeof(float);
}

int to_int(int64_t v, const char *name) {
    if (v > INT32_MAX) fail(std::string(name) + "=" + std::to_string(v) + " exceeds 2^31-1");
    return static_cast<int>(v);
}

Shape batched(Shape s) {
    if (s.size() == 4) s.insert(s.begin(), 1);
    return s;
}

}  // namespace convt3d::detail
