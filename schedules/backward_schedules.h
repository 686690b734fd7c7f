// Schedule templates for the backward kernels (grad_input, grad_weight, grad_bias). Their
// knobs are plain numbers, so a schedule is data: schedules/backward.json holds the values
// per target class and gradient; cmake/Convt3dBackwardKernels.cmake passes them to the
// generators as generator parameters. Every reduction keeps a fixed order (serial, or
// split into a fixed set of vector lanes that are then summed in order, or on CUDA a fixed
// tree of serial sums), so gradients are bitwise identical from run to run.
#pragma once

#include "../generators/conv_transpose3d_backward_algorithm.h"
#include "cpu_schedule_parts.h"
#include "gpu_schedule_parts.h"

namespace convt3d {

struct BackwardCpuKnobs {
    int vectors = 2;              // grad_input: vectors of x per register tile
    int tile_c = 4;               // grad_input: input channels per register tile
    int vectorize_reduction = 1;  // grad_weight/grad_bias: vector lanes over x in the reduction
    // Vectorise over channels instead (the channel schedules below; set by the kernel
    // variants whose preconditions guarantee enough channels):
    int over_channels = 0;
    int channel_vectors = 2;      // vectors of channels per register tile
    int channel_tile = 4;         // grad_input: x positions per tile; grad_weight: input channels per tile
    int ci_tiles = 1;             // grad_weight: input-channel tiles per task, all fed from one pass over grad_output
    int block_kz = 0;             // grad_input: reduction blocked by z tap, each block reused by a whole (channel tile, n) task
    int small_weights = 0;        // grad_input (with block_kz): up to this many weights, tasks are z planes of all channel tiles
    int rows_per_pass = 1;        // grad_weight: input rows each register tile sums over between loads and stores of its accumulators
    int blocks_per_pass = 0;      // grad_weight (channel schedule): where grad_weight_blocks_per_pass holds, each pass of rows blocks the grad_output rows it reads itself
    int tiles_inside_taps = 0;    // grad_weight (channel schedule): with stride >= 2 in x, each tap runs over every input-channel tile of the task before the next tap
    int taps_inner = 0;           // grad_weight, x-vectorised (with vectorize_reduction): every tap summed along each input row in turn
    // x-vectorised kernels: each task pads the grad_output it reads itself (zeros, then
    // grad_output copied over them; in L2) instead of all tasks reading one padded copy made
    // first. For depthwise layers, whose tasks read only their own channels (grad_input's
    // tasks become (channel tile, n) with every z inside).
    int pad_per_task = 0;
};

struct BackwardCudaKnobs {
    int block_x = 32;  // grad_input: threads along x
    int block_y = 4;   // grad_input: threads along y
    int tile_c = 4;    // grad_input: input channels per thread, kept in registers
    // grad_weight/grad_bias: the reduction's partial sums (see apply_parallel_sum_cuda_schedule).
    int lanes_x = 8;                 // a warp's lanes along x ...
    int lanes_y = 4;                 // ... by rows (lanes_x * lanes_y = 32: one warp per partial)
    int partial_threads = 262144;    // about this many threads compute partial sums
};

namespace detail {

// A reduction over r (r.x innermost, the contiguous axis of what it reads) computed per
// output element: lanes of r.x are accumulated into a vector of partial sums, which is then
// summed lane by lane. The order of additions is fixed, so results are deterministic.
inline void vectorise_reduction_over_x(Halide::Func accumulator, const Halide::RDom &r, const Halide::LoopLevel &at,
                                       int lanes) {
    using namespace Halide;
    RVar rxo("rxo"), rxi("rxi");
    Var lane("lane");
    Func partial = accumulator.update().split(r.x, rxo, rxi, lanes, TailStrategy::GuardWithIf).rfactor(rxi, lane);
    partial.compute_at(at).vectorize(lane);
    partial.update().vectorize(lane);
}

}  // namespace detail

// The x-vectorised schedules' zero-padded grad_output: padded by each task of `out` (at its
// loop `task`) for its own channels (pad_per_task), or once, planar, for every task.
inline void pad_grad_output_for_x_vectors(Halide::Func padded, Halide::Func out, const Halide::Var &task,
                                          const BackwardCpuKnobs &k, int lanes) {
    if (k.pad_per_task) {
        compute_padded_rows_per_task(padded, out, task, lanes);
    } else {
        materialize_padded(padded, lanes, PaddedLayout::planar);
    }
}

// Whether different input rows reach disjoint grad_output rows, and input planes disjoint
// planes: (k - 1) * dilation < stride on y and z.
inline Halide::Expr reach_disjoint_rows(const Halide::Expr &kernel_y, const Halide::Expr &kernel_z,
                                        const std::array<BackwardAxis, 3> &axes) {
    return (kernel_y - 1) * axes[1].dilation < axes[1].stride && (kernel_z - 1) * axes[2].dilation < axes[2].stride;
}

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
// z planes of every channel tile.
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
        const auto &wv = f.packed_weight.args();  // ci_in, co, kx, ky, kz, cb
        f.packed_weight.compute_root().parallel(wv[5]).vectorize(wv[0], lanes, TailStrategy::GuardWithIf);
    } else {
        Func packed = f.weight.in(partial);
        const auto &wv = packed.args();
        packed.compute_root().reorder_storage(wv[4], wv[3], wv[0], wv[1], wv[2]).reorder(wv[4], wv[3], wv[0], wv[1], wv[2]);
    }
    // Channel tiles start at multiples of the tile, as the weight blocks do; a partial last
    // tile is computed whole and stored masked.
    const TailStrategy c_tail = blocked ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
    auto tile = [&](Stage s, int tc, bool channels_in_task) {
        s.split(f.c, co, ci, tc, c_tail).split(f.x, xo, xi, tile_x, TailStrategy::GuardWithIf);
        if (channels_in_task) {
            s.reorder(xi, ci, xo, f.y, co, f.z, f.n).fuse(f.z, f.n, task);
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
    auto branches = [&](const Expr &when) {
        if (k.block_kz && k.small_weights > 0)
            tile(out.specialize(when && channels >= tile_c && f.weight_elements <= k.small_weights), tile_c, true);
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

    Var acv("acv"), acl("acl"), axo("axo"), axi("axi"), act("act"), acc_c("acc_c");
    if (k.block_kz) {
        acc.compute_at(out, task).reorder_storage(f.c, f.x, f.y, f.z, f.n).vectorize(f.c, lanes, TailStrategy::GuardWithIf);
        acc.update()
            .split(f.c, act, acc_c, tile_c, TailStrategy::GuardWithIf)
            .split(acc_c, acv, acl, lanes)
            .split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf)
            .reorder(acl, acv, axi, act, axo, f.y, f.z, f.r.z, f.n)
            .vectorize(acl)
            .unroll(acv)
            .unroll(axi);
        partial.compute_at(acc, act);
    } else {
        partial.compute_at(out, xo);
    }
    // A constant-size accumulator (also for the guarded last x tile) stays in registers.
    partial.reorder_storage(f.c, f.x, f.y, f.z, f.n)
        .bound_storage(f.x, tile_x)
        .store_in(MemoryType::Stack);
    if (blocked) partial.bound_extent(f.c, tile_c);
    partial.split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf)
        .reorder(f.c, axi)
        .vectorize(f.c, lanes, TailStrategy::GuardWithIf)
        .unroll(axi);
    Stage reduce = partial.update();
    reduce.split(f.c, acv, acl, lanes, TailStrategy::GuardWithIf).split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf);
    if (k.block_kz) {
        reduce.reorder(acl, acv, axi, f.r.w, f.r.x, f.r.y, axo);
    } else {
        reduce.reorder(acl, acv, axi, f.r.w, f.r.x, f.r.y, f.r.z, axo);
    }
    reduce.vectorize(acl)
        .unroll(acv)
        .unroll(axi);
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
        t.apply(s, f.x, f.y, f.z, f.c, f.n, tx, tc, tail, lanes, 1, tasks);
    };
    const Expr width = out.output_buffer().dim(0).extent(), channels = out.output_buffer().dim(3).extent();
    const Expr full = width >= tile_x && channels >= k.tile_c;
    // Rows narrower than the tile but a vector wide (tiny_latency's 8) take one vector of
    // tile_c channels, and the fast paths too (without them, a unit x stride still divides
    // per lane: tiny_latency grad_input 2.5x slower).
    const Expr narrow = width >= lanes && channels >= k.tile_c;
    auto branches = [&](const Expr &when) {
        tile(out.specialize(when && full), tile_x, k.tile_c, TailStrategy::ShiftInwards);
        if (tile_x > lanes) tile(out.specialize(when && narrow), lanes, k.tile_c, TailStrategy::ShiftInwards);
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

// BackwardOptions::second_blocked_copy_where for blocks_per_pass: where a task holds every
// input channel and its passes of rows reach disjoint grad_output rows and planes, so that
// blocking per pass blocks each grad_output element once.
inline Halide::Expr grad_weight_blocks_per_pass(const Halide::Expr &ci_extent, const Halide::Expr &kernel_y,
                                                const Halide::Expr &kernel_z, const std::array<BackwardAxis, 3> &axes,
                                                const BackwardCpuKnobs &k) {
    return ci_extent <= grad_weight_ci_block(ci_extent, k) && reach_disjoint_rows(kernel_y, kernel_z, axes);
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
        // channels and writes them across the taps.
        out.compute_root().reorder_storage(f.co, f.ci, f.kx, f.ky, f.kz, f.part);
        f.output.reorder(f.co, f.kx, f.ky, f.kz, f.ci).vectorize(f.co, lanes, TailStrategy::GuardWithIf).parallel(f.ci);
    }
    Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), task("task");
    RVar ryo("ryo"), ryi("ryi");
    // grad_output in blocks of tile_co channels (GradWeightFuncs::blocked_grad_output), or with
    // every channel of a position together.
    const bool blocked = f.blocked_grad_output.defined();
    if (blocked) {
        materialize_channel_blocks(f.blocked_grad_output, f.padded_grad_output, lanes);
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
    auto reduce = [&](Stage update, bool taps_outside) {
        update.split(f.co, acv, acl, lanes, TailStrategy::GuardWithIf)
            .split(f.ci, acio, acii, tile_ci, TailStrategy::GuardWithIf);
        std::vector<VarOrRVar> order = {acl, acv, acii, f.r.x};
        if (k.rows_per_pass > 1) {
            // Short rows (decoder_k3s2_op1: 8 positions) would spend a quarter of the tile's
            // instructions loading and storing its accumulators; several rows per pass do not.
            update.split(f.r.y, ryo, ryi, k.rows_per_pass, TailStrategy::GuardWithIf);
            order.push_back(ryi);
        }
        const std::vector<VarOrRVar> taps = {f.kx, f.ky, f.kz};
        if (taps_outside) order.push_back(acio);
        order.insert(order.end(), taps.begin(), taps.end());
        if (!taps_outside) order.push_back(acio);
        order.insert(order.end(), {pass, f.r.z, f.r.w});
        update.reorder(order).vectorize(acl).unroll(acv).unroll(acii);
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

// grad_bias: one task per channel, the reduction vectorised over x.
inline void apply_grad_bias_cpu_schedule(GradBiasFuncs &f, const Halide::Target &target, const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    f.output.parallel(f.c);
    f.accumulator.compute_at(f.output, f.c);
    if (k.vectorize_reduction) detail::vectorise_reduction_over_x(f.accumulator, f.r, LoopLevel(f.output, f.c), lanes);
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

// A reduction over r = (x, y, z, n) into few output elements (grad_weight, grad_bias) on
// CUDA, as a fixed tree of serial sums (no atomics, so results are bitwise identical run to
// run):
//  1. partial: the planes (z, n) are cut into chunks; a warp takes one output element and
//     one chunk, its lanes_x * lanes_y lanes interleaved over (x, y), so a warp's loads are
//     lanes_y runs of lanes_x contiguous floats; each lane sums its positions in the chunk
//     serially, x innermost. There are as many chunks as give about partial_threads threads
//     (`warps_per_chunk` warps each), at most one per plane.
//  2. lane_sums: a warp per element; each lane sums its partial sums over the chunks;
//  3. the accumulator: one thread sums the warp's lanes (in shared memory) in order.
struct CudaPartialSums {
    Halide::Func partial;    // (element..., ux, uy, chunk)
    Halide::Func lane_sums;  // (element..., ux, uy)
    Halide::Var ux{"ux"}, uy{"uy"}, chunk{"chunk"};
};

inline CudaPartialSums factor_reduction_cuda(Halide::Func acc, const Halide::RDom &r,
                                             const Halide::Expr &warps_per_chunk, const BackwardCudaKnobs &k) {
    using namespace Halide;
    CudaPartialSums p;
    RVar rxo("rxo"), rxi("rxi"), ryo("ryo"), ryi("ryi"), rzn("rzn"), rco("rco"), rci("rci");
    const Expr planes = r.z.extent() * r.w.extent();
    const Expr chunks = clamp(k.partial_threads / max(warps_per_chunk * (k.lanes_x * k.lanes_y), 1), 1, planes);
    const Expr planes_per_chunk = (planes + chunks - 1) / chunks;
    p.partial = acc.update()
                    .split(r.x, rxo, rxi, k.lanes_x, TailStrategy::GuardWithIf)
                    .split(r.y, ryo, ryi, k.lanes_y, TailStrategy::GuardWithIf)
                    .fuse(r.z, r.w, rzn)
                    .split(rzn, rco, rci, planes_per_chunk, TailStrategy::GuardWithIf)
                    .rfactor({{rxi, p.ux}, {ryi, p.uy}, {rco, p.chunk}});
    // acc now sums partial over (rxi, ryi, rco); factor out the sums over the chunks.
    p.lane_sums = acc.update().rfactor({{rxi, p.ux}, {ryi, p.uy}});
    return p;
}

// Steps 2 and 3 above: one block (a warp) per output element, the lanes' sums in shared
// memory. Elements are flattened into one grid dimension.
inline void schedule_lane_sums_cuda(Halide::Func out, Halide::Func acc, CudaPartialSums p) {
    using namespace Halide;
    const std::vector<Var> v = out.args();
    Var element("element");
    gpu_blocks_flattened(out, std::vector<VarOrRVar>(v.begin(), v.end()), element);
    acc.compute_at(out, element);
    // The lanes are the outermost loops (threads), the chunks the innermost (serial).
    p.lane_sums.compute_at(out, element).gpu_threads(p.ux, p.uy);
    p.lane_sums.update().gpu_threads(p.ux, p.uy);
}

// grad_bias on CUDA: the tree of sums above; a partial sum is one channel's.
inline void apply_grad_bias_cuda_schedule(GradBiasFuncs &f, const BackwardCudaKnobs &k) {
    using namespace Halide;
    const Expr channels = f.output.output_buffer().dim(0).extent();
    CudaPartialSums p = factor_reduction_cuda(f.accumulator, f.r, channels, k);
    // Each lane's sum in a register (computed per thread), stored once with lanes innermost
    // in memory, so that both those writes and the lane sums' reads coalesce.
    Func partial = p.partial.in();
    Var block("block");
    partial.compute_root()
        .reorder_storage(p.ux, p.uy, f.c, p.chunk)
        .reorder(p.ux, p.uy, f.c, p.chunk)
        .fuse(f.c, p.chunk, block)
        .gpu_blocks(block)
        .gpu_threads(p.ux, p.uy);
    p.partial.compute_at(partial, p.ux);
    schedule_lane_sums_cuda(f.output, f.accumulator, p);
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
