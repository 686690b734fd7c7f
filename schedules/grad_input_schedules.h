// grad_input's schedules: over channels and over x on the CPU, and on CUDA.
#pragma once

#include "backward_schedule_parts.h"

namespace convt3d {

// BackwardOptions::boundary_condition_where for grad_input's channel schedule: blocked by z
// tap, it copies the boundary-condition view per input row and tap, which copies each
// grad_output row once only where input rows reach disjoint rows (a k3s1 layer without
// padding was 23% slower so); else it is copied once, whole.
inline Halide::Expr grad_input_boundary_condition_where(const Halide::Expr &kernel_y, const Halide::Expr &kernel_z,
                                                        const std::array<BackwardAxis, 3> &axes,
                                                        const BackwardCpuKnobs &k) {
    if (!k.block_kz) return Halide::Internal::const_true();
    return reach_disjoint_rows(kernel_y, kernel_z, axes);
}

// grad_input over channels (for groups == 1: with groups, lanes that cross a group
// boundary gather): register tile of (channel_vectors * lanes) input channels x
// channel_tile x positions; each reduction step loads channel_vectors vectors of weights
// (packed once per call in blocks of the tile's channels) and broadcasts one grad_output
// value per x position. The output channel is the innermost reduction loop and grad_output
// is materialised with channels between x and y, so both streams walk memory in order
// (unet_up_k2s2 2.8x faster than taps innermost, avx2), and the copy is a permutation of
// whole rows (decoder_k3s2_op1 and dilated_k3d2 about 20% faster than with a
// channels-innermost copy, which transposes every element). Tasks are (z, channel tile, n), or
// with block_kz (channel tile, n) volumes summed one z tap at a time, or for small weights
// z planes of every channel tile (two n for both where rows are half a tile wide).
inline void apply_grad_input_cpu_channel_schedule(GradInputFuncs &f, const Halide::Target &target,
                                                  const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    const int tile_c = lanes * k.channel_vectors, tile_x = k.channel_tile;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), zc("zc"), task("task");
    materialize_padded(f.padded_grad_output, lanes, PaddedLayout::channel_rows);
    // Without padding (grad_input_boundary_condition_where), blocked by z tap: the rows of one
    // tap that an input row reads, copied while it runs, so all of grad_output is read once
    // and no copy of it goes out to memory and back (avx2, 2 threads, fastest calls:
    // vnet_up_k2s2 28.5 -> 22.8 ms, unet_up_k2s2 24.8 -> 21.2 ms).
    if (f.boundary_grad_output.defined()) {
        if (k.block_kz) {
            order_as_channel_rows(f.boundary_grad_output.compute_at(acc, f.y))
                .vectorize(f.boundary_grad_output.args()[0], lanes, TailStrategy::GuardWithIf);
        } else {
            materialize_padded(f.boundary_grad_output, lanes, PaddedLayout::channel_rows);
        }
    }
    // block_kz: the register tile sums one z tap at a time (rfactor), and a task is a whole
    // (channel tile, n) volume, so the weights of one z tap (not of the whole kernel) are
    // reused from cache by every tile of the task before the next tap.
    Func partial = k.block_kz ? acc.update().rfactor(f.r.z, Var("kz")) : acc;
    // Weights packed once per call in blocks of tile_c input channels (the generator reads them
    // through packed_weight): a tile's weights are one contiguous stream rather than one
    // 64-byte piece per row of all the input channels, which maps a tile's weights onto a
    // fraction of L1's sets (gan_k4s2p1 grad_input 0.39x -> 0.74x of oneDNN, avx2).
    const bool blocked = f.packed_weight.defined();
    if (blocked) {
        // A vector of input channels per tap, the taps inside: an input channel's taps are one
        // contiguous run of the weight, so its cache lines serve every tap in turn, where with
        // the channels innermost each tap read a line per channel, the channels a kernel volume
        // of every output channel apart (gan_k4s2p1 grad_input 13.2 -> 10.6 ms, avx512).
        const auto &wv = f.packed_weight.args();  // ci_in, co, kx, ky, kz, cb
        Var vo("vo"), vi("vi");
        f.packed_weight.compute_root()
            .split(wv[0], vo, vi, lanes, TailStrategy::GuardWithIf)
            .reorder(vi, wv[2], wv[3], wv[4], vo, wv[1], wv[5])
            .vectorize(vi)
            .parallel(wv[5]);
    } else {
        Func packed = f.weight.in(partial);
        const auto &wv = packed.args();
        packed.compute_root().reorder_storage(wv[4], wv[3], wv[0], wv[1], wv[2]).reorder(wv[4], wv[3], wv[0], wv[1], wv[2]);
    }
    // Channel tiles start at multiples of the tile, as the weight blocks do; a partial last
    // tile is computed whole and stored masked.
    const TailStrategy c_tail = blocked ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
    Var no("no"), ni("ni");
    auto tile = [&](Stage s, int tc, bool channels_in_task, bool pairs = false) {
        s.split(f.c, co, ci, tc, c_tail).split(f.x, xo, xi, tile_x, TailStrategy::GuardWithIf);
        if (channels_in_task && pairs) {
            s.split(f.n, no, ni, 2, TailStrategy::GuardWithIf).reorder(xi, ci, xo, f.y, co, ni, f.z, no).fuse(f.z, no, task);
        } else if (channels_in_task) {
            s.reorder(xi, ci, xo, f.y, co, f.z, f.n).fuse(f.z, f.n, task);
        } else if (pairs) {
            s.split(f.n, no, ni, 2, TailStrategy::GuardWithIf).reorder(xi, ci, xo, f.y, f.z, ni, co, no).fuse(co, no, task);
        } else if (k.block_kz) {
            s.reorder(xi, ci, xo, f.y, f.z, co, f.n).fuse(co, f.n, task);
        } else {
            s.reorder(xi, ci, xo, f.y, f.z, co, f.n).fuse(f.z, co, zc).fuse(zc, f.n, task);
        }
        s.parallel(task).vectorize(xi, std::min(lanes, tile_x), TailStrategy::GuardWithIf);
    };
    const Expr channels = out.output_buffer().dim(3).extent();
    // Up to small_weights floats of weights (all channel tiles together): a task is a z plane
    // and every channel tile of a position tile runs while its grad_output lines are in L1, so
    // grad_output is read once rather than once per channel tile (avx2, 262144 = 1 MB: unet
    // grad_input 0.79x -> 1.19x, decoder 0.55x -> 0.94x of oneDNN; gan's 8 MB is slower so).
    const Expr small = k.block_kz && k.small_weights > 0 ? f.weight_elements <= k.small_weights : Internal::const_false();
    // Blocked by z tap, rows half a tile wide and an even batch: tasks are (channel tile, pair
    // of batch items), or with small weights (z plane, pair), and the register tile covers the
    // pair, so each weight vector loaded feeds a whole tile of positions rather than half of
    // one (rows of 4 with a tile of 8, side by side, avx512: gan_k4s2p1's grad_input 9.4 ->
    // 7.1 ms; its layer with 64 -> 32 channels, small weights, 0.72 -> 0.63 ms). Rows in
    // pairs instead test each row's taps against the padding (prune_padding_rows) inside the
    // tile: slower. The batch must be even: the pair tile rounds up, so a lone last item
    // would be computed beside one past the batch, read out of range (the results would not
    // show it).
    const Expr width = out.output_buffer().dim(0).extent(), batch = out.output_buffer().dim(4).extent();
    const int half_tile = tile_x % 2 == 0 && tile_x >= 4 ? tile_x / 2 : 0;
    const bool pairs_built = k.block_kz && half_tile > 0;
    const Expr batch_pairs = width == half_tile && batch % 2 == 0 && channels >= tile_c;
    auto branches = [&](const Expr &when) {
        if (k.block_kz && k.small_weights > 0) {
            if (pairs_built) tile(out.specialize(when && batch_pairs && small), tile_c, true, true);
            tile(out.specialize(when && channels >= tile_c && small), tile_c, true);
        }
        if (pairs_built) tile(out.specialize(when && batch_pairs), tile_c, false, true);
        tile(out.specialize(when && channels >= tile_c), tile_c, false);
        if (tile_c > lanes) tile(out.specialize(when && channels >= lanes), lanes, false);
    };
    // Branches without padding first (GradInputFuncs::no_padding), so that the others know
    // there is padding and read only padded_grad_output.
    if (f.no_padding.defined()) {
        branches(f.no_padding);
        tile(out.specialize(f.no_padding), 1, false);
    }
    branches(Internal::const_true());
    tile(out, 1, false);

    Var acv("acv"), acl("acl"), axo("axo"), axi("axi"), act("act"), acc_c("acc_c"), ano("ano"), ani("ani");
    if (k.block_kz) {
        acc.compute_at(out, task).reorder_storage(f.c, f.x, f.y, f.z, f.n).vectorize(f.c, lanes, TailStrategy::GuardWithIf);
        auto order_update = [&](Stage s, bool pairs) {
            s.split(f.c, act, acc_c, tile_c, TailStrategy::GuardWithIf)
                .split(acc_c, acv, acl, lanes)
                .split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf);
            if (pairs) {
                s.split(f.n, ano, ani, 2, TailStrategy::GuardWithIf)
                    .reorder(acl, acv, axi, ani, act, axo, f.y, f.z, f.r.z, ano)
                    .unroll(ani);
            } else {
                s.reorder(acl, acv, axi, act, axo, f.y, f.z, f.r.z, f.n);
            }
            s.vectorize(acl).unroll(acv).unroll(axi);
        };
        if (pairs_built) order_update(acc.update().specialize(batch_pairs), true);
        order_update(acc.update(), false);
        partial.compute_at(acc, act);
    } else {
        partial.compute_at(out, xo);
    }
    // A constant-size accumulator (also for the guarded last x tile) stays in registers; two
    // batch items of it where they are paired.
    partial.reorder_storage(f.c, f.x, f.y, f.z, f.n)
        .bound_storage(f.x, tile_x)
        .bound_storage(f.n, 2)
        .store_in(MemoryType::Stack);
    if (blocked) partial.bound_extent(f.c, tile_c);
    auto register_tile = [&](Stage pure, Stage reduce, int x_tile, TailStrategy x_tail, bool pairs = false) {
        pure.split(f.x, axo, axi, x_tile, x_tail)
            .reorder(f.c, axi)
            .vectorize(f.c, lanes, TailStrategy::GuardWithIf)
            .unroll(axi);
        reduce.split(f.c, acv, acl, lanes, TailStrategy::GuardWithIf).split(f.x, axo, axi, x_tile, x_tail);
        if (pairs) {
            pure.split(f.n, ano, ani, 2, TailStrategy::RoundUp).reorder(f.c, axi, ani).unroll(ani);
            reduce.split(f.n, ano, ani, 2, TailStrategy::RoundUp)
                .reorder(acl, acv, axi, ani, f.r.w, f.r.x, f.r.y, axo, ano)
                .unroll(ani);
        } else if (k.block_kz) {
            reduce.reorder(acl, acv, axi, f.r.w, f.r.x, f.r.y, axo);
        } else {
            reduce.reorder(acl, acv, axi, f.r.w, f.r.x, f.r.y, f.r.z, axo);
        }
        reduce.vectorize(acl)
            .unroll(acv)
            .unroll(axi);
    };
    // Pairs of batch items (batch_pairs): half tiles of both, whole.
    if (pairs_built) {
        register_tile(partial.specialize(batch_pairs), partial.update().specialize(batch_pairs), half_tile,
                      TailStrategy::RoundUp, true);
    }
    // Rows a whole number of tiles wide: every tile is whole, so rounding the tile's region up
    // changes nothing and drops the guard that each position of a guarded tile tests at every
    // reduction step (Halide cannot tell a tile of the guarded split is whole). Rows a whole
    // number of half tiles wide take half tiles so (gan_k4s2p1's rows of 4 with a tile of 8:
    // its grad_input 13.5 -> 11.7 ms side by side, avx512).
    std::vector<int> whole_tiles{tile_x};
    if (half_tile > 0) whole_tiles.push_back(half_tile);
    for (int x_tile : whole_tiles) {
        const Expr whole = width % x_tile == 0;
        register_tile(partial.specialize(whole), partial.update().specialize(whole), x_tile, TailStrategy::RoundUp);
    }
    register_tile(partial, partial.update(), tile_x, TailStrategy::GuardWithIf);
}

// grad_input: register tile of tile_c input channels x (vectors * lanes) x positions with
// the reduction inside it; tasks are (z, channel tile, n) across the thread pool; or the
// channel schedule above.
inline void apply_grad_input_cpu_schedule(GradInputFuncs &f, const Halide::Target &target,
                                          const BackwardCpuKnobs &k) {
    using namespace Halide;
    if (k.over_channels) {
        apply_grad_input_cpu_channel_schedule(f, target, k);
        return;
    }
    const int lanes = target.natural_vector_size<float>();
    const int tile_x = lanes * k.vectors;
    Func out = f.output, acc = f.accumulator;
    const XTile t;
    // Full tiles overlap at the edges (ShiftInwards recomputes identical values); small
    // tensors take one guarded vector per tile.
    const TileTasks tasks = k.pad_per_task ? TileTasks::channels_batch : TileTasks::depth_channels_batch;
    auto tile = [&](Stage s, int tx, int tc, TailStrategy tail) {
        t.apply(s, f.x, f.y, f.z, f.c, f.n, tx, tc, tail, std::min(lanes, tx), 1, tasks);
    };
    const Expr width = out.output_buffer().dim(0).extent(), channels = out.output_buffer().dim(3).extent();
    const Expr full = width >= tile_x && channels >= k.tile_c;
    // Rows narrower than the tile but a vector wide (tiny_latency's 8) take one vector of
    // tile_c channels, and the fast paths too (without them, a unit x stride still divides
    // per lane: tiny_latency grad_input 2.5x slower). With 16 lanes, rows of 8 take half a
    // vector the same way (tiny_latency 0.06 -> 0.03 ms, Zen 4).
    std::vector<int> narrower;
    if (tile_x > lanes) narrower.push_back(lanes);
    if (lanes > 8) narrower.push_back(8);
    auto branches = [&](const Expr &when) {
        tile(out.specialize(when && full), tile_x, k.tile_c, TailStrategy::ShiftInwards);
        for (int tx : narrower) {
            tile(out.specialize(when && width >= tx && channels >= k.tile_c), tx, k.tile_c, TailStrategy::ShiftInwards);
        }
    };
    for (const Expr &fast : f.fast_paths) branches(fast);
    branches(Internal::const_true());
    tile(out, lanes, 1, TailStrategy::GuardWithIf);

    pad_grad_output_for_x_vectors(f.padded_grad_output, out, t.task, k, lanes);
    acc.compute_at(out, t.xo);
    Var axv("axv"), axl("axl"), aco("aco"), aci("aci");
    acc.vectorize(f.x, lanes, TailStrategy::RoundUp).split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf).unroll(aci);
    acc.update()
        .split(f.x, axv, axl, lanes, TailStrategy::RoundUp)
        .split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf)
        .reorder(axl, axv, aci, f.r.x, f.r.y, f.r.z, f.r.w, aco)
        .vectorize(axl)
        .unroll(axv)
        .unroll(aci);
}

// grad_input on CUDA: one thread per (x, y) position and tile_c input channels whose
// accumulators stay in registers, so each grad_output load (and its boundary test) feeds
// tile_c channels; x runs along the warp, so those loads coalesce. Channel tiles overlap at
// the end (ShiftInwards recomputes identical values); fewer channels than a tile take tiles
// of one. Blocks are flattened into one grid dimension so that large tensors never exceed
// the 65535 limit of grid y/z.
inline void apply_grad_input_cuda_schedule(GradInputFuncs &f, const BackwardCudaKnobs &k) {
    using namespace Halide;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), co("co"), ci("ci"), block("block");
    auto tile = [&](Stage s, int tile_c) {
        s.split(f.c, co, ci, tile_c, TailStrategy::ShiftInwards)
            .tile(f.x, f.y, xo, yo, xi, yi, k.block_x, k.block_y, TailStrategy::GuardWithIf)
            .reorder(ci, xi, yi, xo, yo, f.z, co, f.n)
            .gpu_threads(xi, yi)
            .unroll(ci);
        gpu_blocks_flattened(s, {xo, yo, f.z, co, f.n}, block);
    };
    const Expr full_tiles = out.output_buffer().dim(3).extent() >= k.tile_c;
    for (const Expr &fast : f.fast_paths) tile(out.specialize(fast && full_tiles), k.tile_c);
    tile(out.specialize(full_tiles), k.tile_c);
    tile(out, 1);

    acc.compute_at(out, xi).unroll(f.c);
    acc.update().reorder(f.c, f.r.x, f.r.y, f.r.z, f.r.w).unroll(f.c);
}

}  // namespace convt3d
