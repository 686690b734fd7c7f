// grad_weight's schedules: over channels (with its task blocks and depth parts) and over x on
// the CPU, and on CUDA.
#pragma once

#include "backward_schedule_parts.h"

#include <algorithm>
#include <vector>

namespace convt3d {

// grad_weight's channel schedule runs at least this many tasks where the layer allows.
constexpr int grad_weight_min_tasks = 4;

// The input-channel tiles a grad_weight task of the channel schedule may hold, largest
// first: ci_tiles, halved down to 2 (one tile is the last resort of every layer).
inline std::vector<int> grad_weight_block_tiles(const BackwardCpuKnobs &k) {
    std::vector<int> tiles;
    for (int t = std::max(1, k.ci_tiles); t > 1; t /= 2) tiles.push_back(t);
    return tiles;
}

// The input channels of one grad_weight task in the channel schedule cut into parts: the
// largest block of grad_weight_block_tiles that the layer has.
inline Halide::Expr grad_weight_ci_block(const Halide::Expr &ci_extent, const BackwardCpuKnobs &k) {
    Halide::Expr block = k.channel_tile;
    const std::vector<int> tiles = grad_weight_block_tiles(k);
    for (auto t = tiles.rbegin(); t != tiles.rend(); ++t) {
        block = Halide::select(ci_extent >= k.channel_tile * *t, k.channel_tile * *t, block);
    }
    return block;
}

// BackwardOptions::depth_parts for grad_weight's channel schedule on groups == 1: the input's
// depth is cut into as many parts as make at least grad_weight_min_tasks tasks of
// grad_weight_ci_block input channels. Parts rather than smaller blocks: every block of input
// channels reads its output channels' grad_output once more (vnet_up_k2s2 grad_weight, avx2,
// 2 threads, fastest calls: 29.9 -> 27.2 ms in 2 parts of one block instead of 2 blocks of 32
// channels, and 21.7 ms with blocks_per_pass, which needs the one block).
inline Halide::Expr grad_weight_depth_parts(const Halide::Expr &co_extent, const Halide::Expr &ci_extent,
                                            const Halide::Expr &depth, const Halide::Target &target,
                                            const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int tile_co = target.natural_vector_size<float>() * k.channel_vectors;
    const Expr block = grad_weight_ci_block(ci_extent, k);
    const Expr blocks = ((co_extent + tile_co - 1) / tile_co) * ((ci_extent + block - 1) / block);
    return clamp((grad_weight_min_tasks + blocks - 1) / blocks, 1, max(depth, 1));
}

// BackwardOptions::over_input_where for grad_weight's channel schedule (with over_input):
// where the input channels are one tile of channel_vectors vectors, and grad_output has at
// least twice the input's positions (a layer that upsamples) or output channels that are no
// multiple of the tile, vectorise over input channels and read grad_output as given, instead
// of over output channels from a copy of grad_output in blocks of the tile, which computes
// whole tiles (seed_example: 33 output channels as 48; over input channels, in tiles of
// channel_tile, as 36). 2 threads, fastest calls: avx2, seed_example grad_weight 390 -> 201 ms;
// 16 -> 64 channels, k3s2 on 16x32x32, 38 -> 24 ms; 16 -> 20, 24 and 33 channels, k3s1 on
// 16^3, 1.95 -> 1.30, 1.97 -> 1.72 and 2.68 -> 2.28 ms; sse41 (a tile of 8), the seed layer
// with 8 input channels 401 -> 321 ms. Forced where this does not hold it was slower: 16 ->
// 16 and 16 -> 32 channels at stride 1 (grouped_g4_k3s1's groups) 1.03 -> 1.18 and
// 1.64 -> 1.89 ms, and layers of several input tiles, whose tasks each read all of
// grad_output (unet_up_k2s2 19 -> 41 ms). input_positions, output_positions: the spatial
// sizes, as 64-bit integers.
inline Halide::Expr grad_weight_over_input_where(const Halide::Expr &in_channels, const Halide::Expr &input_positions,
                                                 const Halide::Expr &out_channels, const Halide::Expr &output_positions,
                                                 const Halide::Target &target, const BackwardCpuKnobs &k) {
    const int tile = target.natural_vector_size<float>() * k.channel_vectors;
    return in_channels == tile && (output_positions >= 2 * input_positions || out_channels % tile != 0);
}

// BackwardOptions::depth_parts where over_input_where holds: a task is one tile of input
// channels and a part, and a part there is a run of the batch's planes (n, z)
// (GradWeightFuncs::over_input), so a layer of one tile is cut into up to 32 parts, down to
// one plane each, whatever its depth (seed_example: 32 parts of 6 or 7 of its 200 planes).
inline Halide::Expr grad_weight_over_input_parts(const Halide::Expr &ci_extent, const Halide::Expr &planes,
                                                 const Halide::Target &target, const BackwardCpuKnobs &k) {
    const int tile_ci = target.natural_vector_size<float>() * k.channel_vectors;
    const Halide::Expr tiles = (ci_extent + tile_ci - 1) / tile_ci;
    return Halide::clamp(32 / tiles, 1, Halide::max(planes, 1));
}

// BackwardOptions::second_blocked_copy_where for blocks_per_pass: where a task holds every
// input channel and its passes of rows reach disjoint grad_output rows and planes, so that
// blocking per pass blocks each grad_output element once.
inline Halide::Expr grad_weight_blocks_per_pass(const Halide::Expr &ci_extent, const Halide::Expr &kernel_y,
                                                const Halide::Expr &kernel_z, const std::array<BackwardAxis, 3> &axes,
                                                const BackwardCpuKnobs &k) {
    return ci_extent <= grad_weight_ci_block(ci_extent, k) && reach_disjoint_rows(kernel_y, kernel_z, axes);
}

// grad_weight's channel schedule where GradWeightFuncs::over_input applies (`branch`, a
// specialisation of `out`): a task is one tile of channel_vectors * lanes input channels and
// a part of the depth, holding its accumulators for every output channel and tap (input
// channels innermost). Each pass of rows_per_pass input rows copies the task's input rows
// into channel blocks (in L1); then every tile of channel_tile output channels runs every tap
// along them: each step loads channel_vectors vectors of the input and broadcasts
// over_input_tile (else channel_tile) grad_output values. Output-channel tiles are rounded
// up, so the accumulators stay a constant tile. Tiles of 5 rather than 4 (10 accumulators,
// and 33 output channels computed as 35, not 36), side by side, 2 threads, fastest and
// median calls: avx2, seed_example grad_weight 225 -> 214 and 261 -> 238 ms, 16 -> 64
// channels k3s2 on 16x32x32 18.5 -> 15.3 and 22.8 -> 19.1 ms, 16 -> 20 channels k3s1 on
// 16^3 1.03 -> 0.98 and 1.42 -> 1.32 ms; sse41, the seed layer with 8 input channels
// 342 -> 320 and 365 -> 330 ms. Tiles of 6 were between them, tiles of 3 slower.
inline void schedule_grad_weight_over_input(GradWeightFuncs &f, Halide::Func out, Halide::Stage branch,
                                            const Halide::Target &target, const BackwardCpuKnobs &k) {
    using namespace Halide;
    GradWeightFuncs::OverInput &o = f.over_input;
    const int lanes = target.natural_vector_size<float>();
    const int tile_ci = lanes * k.channel_vectors, tile_co = k.over_input_tile > 0 ? k.over_input_tile : k.channel_tile;
    const bool in_parts = f.partial_sums.defined();
    Var cio("cio"), cii("cii"), task("task");
    branch.split(f.ci, cio, cii, tile_ci, TailStrategy::GuardWithIf).reorder(cii, f.co, f.kx, f.ky, f.kz, cio);
    if (in_parts) {
        branch.fuse(cio, f.part, task);
    } else {
        branch.rename(cio, task);
    }
    branch.vectorize(cii, lanes, TailStrategy::GuardWithIf).parallel(task);

    const Expr co_extent = f.output.output_buffer().dim(3).extent();
    Func acc = o.accumulator;
    acc.compute_at(out, task)
        .reorder_storage(f.ci, f.co, f.kx, f.ky, f.kz)
        .bound_extent(f.ci, tile_ci)
        .bound(f.co, 0, (co_extent + tile_co - 1) / tile_co * tile_co);
    if (in_parts) acc.bound_extent(f.part, 1);
    acc.vectorize(f.ci, lanes);
    Var acv("acv"), acl("acl"), acoo("acoo"), acoi("acoi");
    RVar ryo("ryo"), ryi("ryi");
    Stage update = acc.update();
    update.split(f.ci, acv, acl, lanes, TailStrategy::RoundUp).split(f.co, acoo, acoi, tile_co, TailStrategy::RoundUp);
    std::vector<VarOrRVar> order = {acl, acv, acoi, o.r.x};
    RVar pass(o.r.y);
    if (k.rows_per_pass > 1) {
        update.split(o.r.y, ryo, ryi, k.rows_per_pass, TailStrategy::GuardWithIf);
        order.push_back(ryi);
        pass = ryo;
    }
    order.insert(order.end(), {f.kx, f.ky, f.kz, acoo, pass, o.r.z, o.r.w});
    update.reorder(order).vectorize(acl).unroll(acv).unroll(acoi);
    // The input's rows have no borders to partition.
    transpose_into_channel_blocks(o.blocked_input, o.input, lanes, Partition::Auto);
    o.blocked_input.compute_at(acc, pass);
}

// grad_weight over output channels (any groups; vectors within a group): one task per (tile of channel_vectors * lanes output
// channels, block of up to ci_tiles tiles of channel_tile input channels), holding the tile's accumulators for every
// kernel tap (output channels innermost). The reduction walks the batch and the input rows;
// for each row every tap runs along it with its accumulators in registers: each step loads
// channel_vectors vectors of grad_output (materialised zero-padded, for groups == 1 in blocks
// of the tile's channels: unet_up_k2s2 grad_weight 23% faster, decoder and vnet 10%, than with
// all of a position's channels together; else channels innermost) and broadcasts
// channel_tile input values. The rows of grad_output a task needs stay in
// cache across the taps (one tap per row pass instead of one pass over all of grad_output
// per tap: 5x faster on seed_example, avx2). Each element is still one serial sum in a
// fixed order.
inline void apply_grad_weight_cpu_channel_schedule(GradWeightFuncs &f, const Halide::Target &target,
                                                   const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    const int tile_co = lanes * k.channel_vectors, tile_ci = k.channel_tile;
    // Tasks are (channel tiles, part) of the partial sums where the reduction is cut into
    // parts (GradWeightFuncs::partial_sums); the output then sums each element's parts.
    const bool in_parts = f.partial_sums.defined();
    Func out = in_parts ? f.partial_sums : f.output, acc = f.accumulator;
    if (in_parts) {
        // The partial sums are laid out as the accumulators (output channels innermost), so
        // each task stores its tile as vectors; the sum over the parts reads vectors of output
        // channels and writes them across the taps. Taps inside input channels, so that it
        // reads each input channel's sums as one sequential stream (taps outside, every load
        // was a page from the last, out of the prefetchers' reach: gan_k4s2p1's 8 MB took a
        // fifth of its grad_weight).
        out.compute_root().reorder_storage(f.co, f.kx, f.ky, f.kz, f.ci, f.part);
        f.output.reorder(f.co, f.kx, f.ky, f.kz, f.ci).vectorize(f.co, lanes, TailStrategy::GuardWithIf).parallel(f.ci);
    }
    // Where the formulation over input channels applies, first, so that the branches below
    // read the other one.
    if (f.over_input.accumulator.defined()) {
        schedule_grad_weight_over_input(f, out, out.specialize(f.over_input.where), target, k);
    }
    Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), task("task");
    RVar ryo("ryo"), ryi("ryi");
    // grad_output in blocks of tile_co channels (GradWeightFuncs::blocked_grad_output), or with
    // every channel of a position together.
    const bool blocked = f.blocked_grad_output.defined();
    if (blocked) {
        materialize_channel_blocks(f.blocked_grad_output, f.padded_grad_output, f.grad_output, f.blocked_no_padding,
                                   lanes);
    } else {
        materialize_padded(f.padded_grad_output, lanes, PaddedLayout::channels_innermost, f.grad_output_channels);
    }
    // The second copy (where grad_weight_blocks_per_pass holds): each pass of rows blocks the
    // grad_output rows it reads, while they are in cache, instead of one pass over all of
    // grad_output writing the blocks and the tasks reading them back.
    // A pass of the reduction: rows_per_pass input rows (ryo, split below), or one.
    const RVar pass = k.rows_per_pass > 1 ? ryo : RVar(f.r.y);
    const bool per_pass = f.blocked_grad_output_per_pass.defined();
    if (per_pass) {
        transpose_into_channel_blocks(f.blocked_grad_output_per_pass, f.padded_grad_output, lanes);
        f.blocked_grad_output_per_pass.compute_at(acc, pass);
    }

    // Channel tiles start at multiples of the tile, as grad_output's blocks do; a partial last
    // tile is computed whole and only its real channels are stored.
    const TailStrategy co_tail = blocked ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
    auto tile = [&](Stage s, int tco, int tci) {
        s.split(f.co, coo, coi, tco, co_tail)
            .split(f.ci, cio, cii, tci, TailStrategy::ShiftInwards)
            .reorder(coi, cii, f.kx, f.ky, f.kz, coo, cio)
            .fuse(coo, cio, task);
        if (in_parts) s.fuse(task, f.part, task).vectorize(coi, lanes, TailStrategy::GuardWithIf);
        s.parallel(task);
    };
    // A task holds up to ci_tiles input-channel tiles, so the grad_output rows it reads feed
    // all of them while in L1, instead of each tile re-reading its grad_output slice
    // (unet_up_k2s2 grad_weight 0.24x -> 0.63x of oneDNN, avx2). Cut into parts, a task takes
    // the largest block the layer has and the parts make up the tasks; else blocks halve until
    // there are at least grad_weight_min_tasks.
    const Expr co_extent = f.output.output_buffer().dim(3).extent(), ci_extent = f.output.output_buffer().dim(4).extent();
    // Blocked, any channel count takes whole tiles (a partial last one is computed whole).
    const Expr co_fills_tile = blocked ? Internal::const_true() : co_extent >= tile_co;
    for (int tiles : grad_weight_block_tiles(k)) {
        const int block_ci = tile_ci * tiles;
        const Expr blocks = ((co_extent + tile_co - 1) / tile_co) * ((ci_extent + block_ci - 1) / block_ci);
        const Expr enough_tasks = in_parts ? Internal::const_true() : blocks >= grad_weight_min_tasks;
        tile(out.specialize(co_fills_tile && ci_extent >= block_ci && enough_tasks), tile_co, block_ci);
    }
    tile(out.specialize(co_fills_tile && ci_extent >= tile_ci), tile_co, tile_ci);
    if (blocked) {
        tile(out, tile_co, 1);
    } else {
        if (tile_co > lanes) tile(out.specialize(co_extent >= lanes && ci_extent >= tile_ci), lanes, tile_ci);
        tile(out, 1, 1);
    }

    acc.compute_at(out, task).reorder_storage(f.co, f.ci, f.kx, f.ky, f.kz);
    if (in_parts) acc.bound_extent(f.part, 1);
    if (blocked) acc.bound_extent(f.co, tile_co);
    Var acv("acv"), acl("acl"), acio("acio"), acii("acii");
    acc.reorder(f.co, f.ci, f.kx, f.ky, f.kz)
        .vectorize(f.co, lanes, TailStrategy::GuardWithIf)
        .split(f.ci, acio, acii, tile_ci, TailStrategy::GuardWithIf)
        .unroll(acii);
    // Register tiles of (channel_vectors vectors of output channels) x (channel_tile input
    // channels). taps_outside: each tap runs over every input-channel tile of the task before
    // the next tap, so the task's input rows and the tap's grad_output rows are read from L1
    // by all of them; else each tile runs every tap, which suits stride 1 in x, where
    // neighbouring x taps read the same grad_output lines (seed_example 8% faster so).
    // x_taps_tile: where the kernel is that many taps wide in x, a register tile holds all of
    // them for x_taps_tile_ci input channels (each step loads a grad_output vector per tap and
    // broadcasts each input value once for every tap), instead of one tap for channel_tile
    // input channels: 12 accumulators rather than 8, which hide the FMA latency (avx2, 3 taps
    // of 2 channels; 2 threads, side by side, fastest and p25 calls: decoder_k3s2_op1
    // 6.34 -> 5.97 and 7.39 -> 6.99 ms, dilated_k3d2 1.41 -> 1.30 and 1.98 -> 1.69 ms,
    // grouped_g4_k3s1's groups 0.72 -> 0.70 and 1.11 -> 0.97 ms; kernels 2 and 4 wide were no
    // faster so). The sums keep their order.
    const Expr kernel_x = f.output.output_buffer().dim(0).extent();
    auto reduce_with = [&](Stage update, bool taps_outside, bool x_taps_in_tile) {
        update.split(f.co, acv, acl, lanes, TailStrategy::GuardWithIf)
            .split(f.ci, acio, acii, x_taps_in_tile ? k.x_taps_tile_ci : tile_ci, TailStrategy::GuardWithIf);
        std::vector<VarOrRVar> order = {acl, acv, acii};
        if (x_taps_in_tile) order.push_back(f.kx);
        order.push_back(f.r.x);
        if (k.rows_per_pass > 1) {
            // Short rows (decoder_k3s2_op1: 8 positions) would spend a quarter of the tile's
            // instructions loading and storing its accumulators; several rows per pass do not.
            update.split(f.r.y, ryo, ryi, k.rows_per_pass, TailStrategy::GuardWithIf);
            order.push_back(ryi);
        }
        std::vector<VarOrRVar> taps = {f.ky, f.kz};
        if (!x_taps_in_tile) taps.insert(taps.begin(), f.kx);
        if (taps_outside) order.push_back(acio);
        order.insert(order.end(), taps.begin(), taps.end());
        if (!taps_outside) order.push_back(acio);
        order.insert(order.end(), {pass, f.r.z, f.r.w});
        update.reorder(order).vectorize(acl).unroll(acv).unroll(acii);
        if (x_taps_in_tile) update.unroll(f.kx);
    };
    auto reduce = [&](Stage update, bool taps_outside) {
        if (k.x_taps_tile > 0) {
            reduce_with(update.specialize(kernel_x == k.x_taps_tile), taps_outside, true);
        }
        reduce_with(update, taps_outside, false);
    };
    Stage update = acc.update();
    if (per_pass) reduce(update.specialize(f.per_pass_where), k.tiles_inside_taps != 0);
    if (k.tiles_inside_taps) reduce(update.specialize(f.axes[0].stride >= 2), true);
    reduce(update, false);
}

// grad_weight: one task per (output channel in group, input channel); inside it every
// kernel tap reduces over the input positions, vectorised over x; or the channel schedule
// above.
inline void apply_grad_weight_cpu_schedule(GradWeightFuncs &f, const Halide::Target &target,
                                           const BackwardCpuKnobs &k) {
    using namespace Halide;
    if (k.over_channels) {
        apply_grad_weight_cpu_channel_schedule(f, target, k);
        return;
    }
    const int lanes = target.natural_vector_size<float>();
    Func out = f.output, acc = f.accumulator;
    Var task("task");
    for (const Expr &fast : f.fast_paths) out.specialize(fast).fuse(f.co, f.ci, task).parallel(task);
    out.fuse(f.co, f.ci, task).parallel(task);
    pad_grad_output_for_x_vectors(f.padded_grad_output, out, task, k, lanes);
    if (k.taps_inner && k.vectorize_reduction) {
        // Every tap of the task along one input row before the next row, so the row and the
        // grad_output rows it reaches are read from L1 by all taps, rather than one pass over
        // the task's whole input and grad_output (from L2) per tap (avx2, 2 threads: a
        // depthwise k3s2 layer of depthwise_k3s2's size 5.9 -> 5.0 ms; 2 groups of 8 -> 4
        // channels, k3s2, 0.92 -> 0.66 ms; tiny_latency even). Each lane's partial sums stay in
        // the same order, so results are unchanged.
        acc.compute_at(out, task);
        RVar rxo("rxo"), rxi("rxi");
        Var lane("lane");
        Func partial = acc.update().split(f.r.x, rxo, rxi, lanes, TailStrategy::GuardWithIf).rfactor(rxi, lane);
        const auto &pv = partial.args();  // kx, ky, kz, co, ci, lane
        partial.compute_at(out, task).reorder_storage(lane, pv[0], pv[1], pv[2], pv[3], pv[4]).vectorize(lane);
        partial.update().reorder(lane, rxo, f.kx, f.ky, f.kz, f.r.y, f.r.z, f.r.w).vectorize(lane);
        return;
    }
    acc.compute_at(out, f.kx);
    if (k.vectorize_reduction) detail::vectorise_reduction_over_x(acc, f.r, LoopLevel(out, f.kx), lanes);
}

// grad_weight on CUDA: the tree of sums above; a thread's partial sum is one weight
// element's. It accumulates in place in global memory, which the compiler keeps in a
// register across the reduction. (Register tiles over channels, as grad_input has, do not
// fit here yet: an update cannot split with ShiftInwards, and a tile computed per thread in
// a wrapper is sized by Halide for every tap, from loose bounds through the fused block
// index.)
inline void apply_grad_weight_cuda_schedule(GradWeightFuncs &f, const BackwardCudaKnobs &k) {
    using namespace Halide;
    const auto &dim = f.output.output_buffer();
    Expr elements = dim.dim(0).extent();
    for (int d = 1; d < 5; d++) elements *= dim.dim(d).extent();
    CudaPartialSums p = factor_reduction_cuda(f.accumulator, f.r, elements, k);
    Var block("block");
    auto blocks = [&](Stage s) {
        s.reorder(p.ux, p.uy, f.kx, f.ky, f.kz, f.co, f.ci, p.chunk).gpu_threads(p.ux, p.uy);
        gpu_blocks_flattened(s, {f.kx, f.ky, f.kz, f.co, f.ci, p.chunk}, block);
    };
    // Lanes innermost in memory: both the partial sums' writes and the lane sums' reads coalesce.
    p.partial.compute_root().reorder_storage(p.ux, p.uy, f.kx, f.ky, f.kz, f.co, f.ci, p.chunk);
    blocks(p.partial);
    blocks(p.partial.update());
    schedule_lane_sums_cuda(f.output, f.accumulator, p);
}

}  // namespace convt3d
