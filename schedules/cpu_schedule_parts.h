// Small CPU scheduling pieces shared by the forward and backward schedule templates.
#pragma once

#include "Halide.h"

namespace convt3d {

// Memory layout of a materialised zero-padded tensor whose dimensions are (x, y, z, c, n).
enum class PaddedLayout {
    planar,              // as the tensor: x, y, z, c, n
    channel_rows,        // x, c, y, z, n: a reduction over c walks one small block of rows
                         // instead of a page per channel (a cheap permutation of whole rows)
    channels_innermost,  // c, x, y, z, n: dense vectors over c, or a c loop in address order
};

// Materialises a zero-padded tensor once, so that kernels make dense loads instead of
// evaluating the boundary condition (selects that vectorise into gathers) per element.
inline void materialize_padded(Halide::Func padded, int lanes, PaddedLayout layout) {
    using namespace Halide;
    const auto &v = padded.args();  // x, y, z, c, n
    Var zn("zn"), cn("cn");
    padded.compute_root();
    switch (layout) {
    case PaddedLayout::planar:
        padded.fuse(v[3], v[4], cn).parallel(cn).vectorize(v[0], lanes, TailStrategy::GuardWithIf);
        break;
    case PaddedLayout::channel_rows:
        padded.reorder_storage(v[0], v[3], v[1], v[2], v[4])
            .reorder(v[0], v[3], v[1], v[2], v[4])
            .fuse(v[2], v[4], zn)
            .parallel(zn)
            .vectorize(v[0], lanes, TailStrategy::GuardWithIf);
        break;
    case PaddedLayout::channels_innermost:
        padded.reorder_storage(v[3], v[0], v[1], v[2], v[4])
            .reorder(v[3], v[0], v[1], v[2], v[4])
            .fuse(v[2], v[4], zn)
            .parallel(zn)
            .vectorize(v[3], lanes, TailStrategy::GuardWithIf);
        break;
    }
}

// The loops of an x-vectorised output tile: tile_x positions of x (vectorised) by tile_c
// channels; tasks are (z, channel tile, n) across the thread pool. Callers compute their
// accumulator at `xo`.
struct XTile {
    Halide::Var xo{"xo"}, xi{"xi"}, co{"co"}, ci{"ci"};

    void apply(Halide::Stage s, const Halide::Var &x, const Halide::Var &y, const Halide::Var &z,
               const Halide::Var &c, const Halide::Var &n, int tile_x, int tile_c, Halide::TailStrategy x_tail,
               int lanes) const {
        using namespace Halide;
        Var zc("zc"), task("task");
        s.split(x, xo, xi, tile_x, x_tail)
            .split(c, co, ci, tile_c, TailStrategy::ShiftInwards)
            .reorder(xi, ci, xo, y, z, co, n)
            .fuse(z, co, zc)
            .fuse(zc, n, task)
            .parallel(task)
            .vectorize(xi, lanes, TailStrategy::GuardWithIf);
    }
};

}  // namespace convt3d
