// A zero-padded tensor as zeros overwritten by the tensor, for the forward and backward
// algorithms: schedules that materialise it then make dense stores only, where a boundary
// condition's select turns every vector that crosses the border into a gather.
#pragma once

#include "Halide.h"

namespace convt3d {

// (x, y, z, c, n) of `input` inside `box` (x, y, z) and zero elsewhere, as a pure zero
// definition and an update that copies the input over it: both are dense along x. It must
// be computed (not inlined) wherever it is used.
inline Halide::Func zero_then_copy(const Halide::Func &input, const Halide::Region &box) {
    using namespace Halide;
    Func padded("zero_padded");
    Var x("x"), y("y"), z("z"), c("c"), n("n");
    padded(x, y, z, c, n) = 0.0f;
    RDom r(box, "inside");
    padded(r.x, r.y, r.z, c, n) = input(r.x, r.y, r.z, c, n);
    return padded;
}

}  // namespace convt3d
