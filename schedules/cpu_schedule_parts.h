// Small CPU scheduling pieces shared by the forward and backward schedule templates.
#pragma once

#include "Halide.h"

#include <vector>

namespace convt3d {

// Memory layout of a materialised zero-padded tensor whose dimensions are (x, y, z, c, n).
enum class PaddedLayout {
    planar,              // as the tensor: x, y, z, c, n
    channel_rows,        // x, c, y, z, n: a reduction over c walks one small block of rows
                         // instead of a page per channel (a cheap permutation of whole rows)
    channels_innermost,  // c, x, y, z, n: dense vectors over c, or a c loop in address order
};

// `source` (x, y, z, c, n) computed per lanes x lanes tile of (x, c) on the stack at the
// copy's loop `at`, read from the tensor along x, for a copy that writes it along c. A tile
// narrower than lanes in x (x_tail GuardWithIf) is read with predicated loads.
inline void stage_transpose_tile(Halide::Func source, const Halide::LoopLevel &at, int lanes,
                                 Halide::TailStrategy x_tail = Halide::TailStrategy::Auto) {
    using namespace Halide;
    const auto &p = source.args();
    source.compute_at(at).bound_storage(p[0], lanes).bound_storage(p[3], lanes).store_in(MemoryType::Stack).unroll(p[3]);
    if (x_tail == TailStrategy::GuardWithIf) {
        source.vectorize(p[0], lanes, x_tail);
    } else {
        source.vectorize(p[0]);
    }
}

// Channels innermost, transposed through lanes x lanes blocks of (x, c): each block is read
// along x into a constant-size stack tile and written along c from it, instead of gathering
// every vector from lanes channel planes. Channel blocks run inside x blocks of one row, so
// the source is read as lanes sequential streams. CPU samples in the copy (vnet_up_k2s2 +
// unet_up_k2s2 grad_input, avx2): 3321 -> 1675. Each position holds `channels` rounded up
// to a vector, plus one vector when that is a multiple of 128: 512 bytes per position would
// map loads at every other position onto a quarter of L1's sets, where they evict each
// other (unet_up_k2s2 grad_weight spent a third of its time on one such load; about 9%
// faster with the extra vector, gan_k4s2p1 3%; with 32 channels vnet_up_k2s2 was 13% slower,
// from the larger copy).
inline void materialize_channels_innermost_by_blocks(Halide::Func padded, int lanes, const Halide::Expr &channels) {
    using namespace Halide;
    Func t = padded.in();
    const auto &v = t.args();  // x, y, z, c, n
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), zn("zn");
    t.compute_root()
        .reorder_storage(v[3], v[0], v[1], v[2], v[4])
        .bound_storage(v[3], (channels + lanes - 1) / lanes * lanes + select(channels % 128 == 0, lanes, 0))
        .split(v[0], xo, xi, lanes, TailStrategy::RoundUp)
        .split(v[3], co, ci, lanes, TailStrategy::GuardWithIf)
        .reorder(ci, xi, xo, co, v[1], v[2], v[4])
        .fuse(v[2], v[4], zn)
        .parallel(zn)
        .vectorize(ci)
        .unroll(xi)
        .partition(xo, Partition::Always);
    stage_transpose_tile(padded, Halide::LoopLevel(t, xo), lanes);
}

// blocked(c_in, x, y, z, cb, n) = padded(x, y, z, cb * block + c_in, n) (channels in blocks of
// a multiple of lanes, innermost), transposed through stack tiles as above, in `copy` (the
// pure definition of `blocked` or a specialisation of it). Each copy stages its own tiles
// (padded.in), so two copies of one padded Func can be computed at different loop levels.
// x_partition: Always for a padded source, whose borders the loop over x blocks is
// partitioned at; Auto for one without.
inline void transpose_stage_into_channel_blocks(Halide::Stage copy, Halide::Func blocked, Halide::Func padded,
                                                int lanes, Halide::Partition x_partition) {
    using namespace Halide;
    const auto &v = blocked.args();  // c_in, x, y, z, cb, n
    Var cio("cio"), cii("cii"), xo("xo"), xi("xi");
    copy.split(v[0], cio, cii, lanes)
        .split(v[1], xo, xi, lanes, TailStrategy::RoundUp)
        .reorder(cii, xi, cio, xo, v[2], v[3], v[4], v[5])
        .vectorize(cii)
        .unroll(xi)
        .partition(xo, x_partition);
    stage_transpose_tile(padded.in(blocked), LoopLevel(blocked, cio), lanes);
}

// The blocks above, computed where the caller puts it.
inline void transpose_into_channel_blocks(Halide::Func blocked, Halide::Func padded, int lanes,
                                          Halide::Partition x_partition = Halide::Partition::Always) {
    transpose_stage_into_channel_blocks(blocked, blocked, padded, lanes, x_partition);
}

// The blocks of GradWeightFuncs::blocked_grad_output, once for the whole tensor, in parallel
// over (z, block, n): without padding (no_padding) transposed from the padded tensor as
// above (the partitioned x loop drops its select); with padding zeros, then `source` (the
// tensor as given) transposed over them by the update, its rows read whole.
inline void materialize_channel_blocks(Halide::Func blocked, Halide::Func padded, Halide::Func source,
                                       const Halide::Expr &no_padding, int lanes) {
    using namespace Halide;
    const auto &v = blocked.args();  // c_in, x, y, z, cb, n
    Var task("task");
    auto in_tasks = [&](Stage s) { s.fuse(v[3], v[4], task).fuse(task, v[5], task).parallel(task); };
    blocked.compute_root();
    Stage transposed = blocked.specialize(no_padding);
    transpose_stage_into_channel_blocks(transposed, blocked, padded, lanes, Partition::Always);
    in_tasks(transposed);
    blocked.vectorize(v[0], lanes);
    in_tasks(blocked);

    Stage copy = blocked.update();
    const auto &rv = copy.get_schedule().rvars();  // grad_output's x, y, z
    const RVar rx(rv[0].var), ry(rv[1].var), rz(rv[2].var);
    RVar rxo("rxo"), rxi("rxi");
    Var cio("copy_cio"), cii("copy_cii");  // named apart from the pure definition's loops
    copy.split(v[0], cio, cii, lanes)
        .split(rx, rxo, rxi, lanes, TailStrategy::GuardWithIf)
        .reorder(cii, rxi, cio, rxo, ry, rz, v[4], v[5])
        .vectorize(cii)
        .unroll(rxi)
        .parallel(rz);
    stage_transpose_tile(source.in(blocked), LoopLevel(blocked, cio), lanes, TailStrategy::GuardWithIf);
}

// zero_then_copy (generators/zero_then_copy.h): the input copied over the zeros,
// row by row in the order of the zeros' loops.
inline void schedule_copy_over_zeros(Halide::Func padded, int lanes, PaddedLayout layout, bool parallel) {
    using namespace Halide;
    if (!padded.has_update_definition()) return;
    const auto &v = padded.args();                            // x, y, z, c, n
    const auto &rv = padded.update().get_schedule().rvars();  // the input's x, y, z
    const RVar rx(rv[0].var), ry(rv[1].var), rz(rv[2].var);
    Stage copy = padded.update();
    if (layout == PaddedLayout::channel_rows) {
        copy.reorder(rx, v[3], ry, rz, v[4]);
    } else {
        copy.reorder(rx, ry, rz, v[3], v[4]);
    }
    if (parallel) copy.parallel(rz);
    copy.vectorize(rx, lanes, TailStrategy::GuardWithIf);
}

// The channel_rows layout (x, c, y, z, n), in storage and in the loops that fill it.
inline Halide::Func &order_as_channel_rows(Halide::Func &padded) {
    const auto &v = padded.args();  // x, y, z, c, n
    return padded.reorder_storage(v[0], v[3], v[1], v[2], v[4]).reorder(v[0], v[3], v[1], v[2], v[4]);
}

// Materialises a zero-padded tensor once, so that kernels make dense loads instead of
// evaluating the boundary condition (selects that vectorise into gathers) per element. It
// is a boundary condition on the tensor, or zero_then_copy (zeros, then the tensor copied
// over them: no gathers at the borders, which is most of the copy for rows of a few
// vectors; planar and channel_rows only).
// `channels` (the tensor's channel count) is needed for channels_innermost only.
inline void materialize_padded(Halide::Func padded, int lanes, PaddedLayout layout,
                               const Halide::Expr &channels = Halide::Expr()) {
    using namespace Halide;
    const auto &v = padded.args();  // x, y, z, c, n
    Var zn("zn"), cn("cn");
    switch (layout) {
    case PaddedLayout::planar:
        padded.compute_root().fuse(v[3], v[4], cn).parallel(cn).vectorize(v[0], lanes, TailStrategy::GuardWithIf);
        break;
    case PaddedLayout::channel_rows:
        order_as_channel_rows(padded.compute_root())
            .fuse(v[2], v[4], zn)
            .parallel(zn)
            .vectorize(v[0], lanes, TailStrategy::GuardWithIf);
        break;
    case PaddedLayout::channels_innermost:
        if (padded.has_update_definition()) {
            throw CompileError("materialize_padded: channels_innermost takes a boundary condition, not zero_then_copy");
        }
        materialize_channels_innermost_by_blocks(padded, lanes, channels);
        break;
    }
    schedule_copy_over_zeros(padded, lanes, layout, true);
}

// The zero-padded tensor in the channel_rows layout, computed inside each task of `consumer`
// at its loop `task`, for the channels (and batch items) that task reads. zero_then_copy's
// copy covers every x, y and z of the tensor, so a task must span all of them.
inline void compute_padded_rows_per_task(Halide::Func padded, Halide::Func consumer, const Halide::Var &task,
                                         int lanes) {
    using namespace Halide;
    order_as_channel_rows(padded.compute_at(consumer, task))
        .vectorize(padded.args()[0], lanes, TailStrategy::GuardWithIf);
    schedule_copy_over_zeros(padded, lanes, PaddedLayout::channel_rows, false);
}

// What one task of an x-vectorised output tile's thread pool covers.
enum class TileTasks {
    depth_channels_batch,  // one z, one channel tile, one batch item
    depth_batch,           // one z and batch item: every channel tile of a position tile runs
                           // back to back over the same input (in L1 after the first)
    channels_batch,        // one channel tile and batch item, every z inside: a task reads
                           // only its own channels' input (depthwise), which it can pad itself
};

// The loops of an x-vectorised output tile: tile_x positions of x (vectorised) by tile_c
// channels by tile_y rows (rows split only when tile_y > 1, ShiftInwards: callers make sure
// the tensor has that many). The innermost tile loop runs along x; tasks (the loop `task`)
// are as `tasks` says; callers compute their accumulator at tile_loop(tasks).
struct XTile {
    Halide::Var xo{"xo"}, xi{"xi"}, co{"co"}, ci{"ci"}, yo{"yo"}, yi{"yi"}, task{"task"};

    void apply(Halide::Stage s, const Halide::Var &x, const Halide::Var &y, const Halide::Var &z,
               const Halide::Var &c, const Halide::Var &n, int tile_x, int tile_c, Halide::TailStrategy x_tail,
               int lanes, int tile_y = 1, TileTasks tasks = TileTasks::depth_channels_batch,
               Halide::TailStrategy c_tail = Halide::TailStrategy::ShiftInwards) const {
        using namespace Halide;
        Var zc("zc");
        s.split(x, xo, xi, tile_x, x_tail).split(c, co, ci, tile_c, c_tail);
        std::vector<VarOrRVar> order{xi, ci};
        if (tile_y > 1) {
            s.split(y, yo, yi, tile_y, TailStrategy::ShiftInwards);
            order.push_back(yi);
        }
        const bool channel_tiles_inner = tasks == TileTasks::depth_batch;
        if (channel_tiles_inner) order.push_back(co);
        order.push_back(xo);
        order.push_back(tile_y > 1 ? yo : y);
        order.push_back(z);
        if (!channel_tiles_inner) order.push_back(co);
        order.push_back(n);
        s.reorder(order);
        switch (tasks) {
        case TileTasks::depth_channels_batch:
            s.fuse(z, co, zc).fuse(zc, n, task);
            break;
        case TileTasks::depth_batch:
            s.fuse(z, n, task);
            break;
        case TileTasks::channels_batch:
            s.fuse(co, n, task);
            break;
        }
        s.parallel(task).vectorize(xi, lanes, TailStrategy::GuardWithIf);
    }
    // The loop to compute an accumulator at.
    const Halide::Var &tile_loop(TileTasks tasks) const { return tasks == TileTasks::depth_batch ? co : xo; }
};

}  // namespace convt3d
