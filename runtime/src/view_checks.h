// Argument checks shared by the forward and backward entry points: views (null data,
// shape, device, the kernels' 2^31-1 element limit), overlapping memory, int conversion of
// parameters, and the CONVT3D_VERBOSE switch.
#pragma once

#include "convt3d/convt3d.hpp"

#include <string>

namespace convt3d::detail {

// Throws Error("convt3d: " + msg).
[[noreturn]] void fail(const std::string &msg);
// CONVT3D_VERBOSE set and not "0" (read on every call, so it can be toggled).
bool verbose();
// v must have non-null data, the expected shape, live on `device` and fit the kernels.
void check_view(const ConstTensorView &v, const char *name, const Shape &expected, Device device);
// Whether two float ranges share memory.
bool overlaps(const void *a, int64_t a_count, const void *b, int64_t b_count);
// A parameter as the kernels' int, or Error when it does not fit.
int to_int(int64_t v, const char *name);
// Unbatched (C, D, H, W) shapes run as a batch of one.
Shape batched(Shape s);

}  // namespace convt3d::detail
