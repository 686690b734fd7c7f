// Schedule templates for the forward kernel. Their knobs are plain numbers, so a schedule
// is data: schedules/forward.json holds the values per variant and target class; CMake
// passes them to the generator as generator parameters; the autotuner rewrites the JSON.
//
// Measured with forward.json's avx2 knobs (2-core AMD EPYC Zen 3, AVX2, 2 threads, FMA peak
// 183 GFLOP/s; BENCHMARKS.md, 2026-11-25): over channels (k*s2_g1, s1_g1, 2 vectors x 4
// positions per phase) unet_up_k2s2 18 ms (66% of peak), decoder_k3s2_op1 8.1 ms (61%),
// gan_k4s2p1 21 ms (55%), dilated_k3d2 2.4 ms (52%); phase-major over x (k3s2)
// depthwise_k3s2 3.9 ms. Over x (generic_g1), fourth session, the same machine at an FMA
// peak of 146 GFLOP/s that day: 3 vectors x 3 channels 523 ms; 1 vector x 3 channels x 4
// rows with the channel tiles inside each position tile and packed weights 379 ms
// (seed_example, alternating runs). Fifth session (2026-12-01, same machine, FMA peak 200
// GFLOP/s on 2 threads): gan_k4s2p1 with ci_block=64 12.7 ms (66%) vs 13.3 ms without, the two
// kernels interleaved in one process; 1 thread 26.4 ms (81% of one core's peak).
#pragma once

#include "../generators/conv_transpose3d_algorithm.h"
#include "cpu_schedule_parts.h"
#include "gpu_schedule_parts.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace convt3d {

struct CpuScheduleKnobs {
    int vectors = 2;  // vectors of x per register tile (of c when vectorize_c)
    int tile_c = 4;   // output channels per register tile (x positions of one stride phase
                      // when vectorize_c)
    bool vectorize_c = false;  // vectors run over output channels: needs groups == 1
    // Reduction order: input channels innermost, taps outside. The inner loop then has as
    // many iterations as there are input channels, instead of a kernel extent of 2-5.
    bool ci_inner = false;
    // vectorize_c only: tasks are whole output-channel blocks (every z, y, n inside), and
    // each packs its own block of weights, so the packed copy held at once is one block per
    // thread rather than the whole weight (gan_k4s2p1: 8 MB, four times its output).
    bool pack_per_task = false;
    // x-vectorised template only: rows (y) per register tile. Narrow rows waste less of a
    // tile of fewer x vectors, and each weight broadcast serves every row.
    int tile_y = 1;
    // x-vectorised template only: tasks are (z, n) and every channel tile of a position tile
    // runs back to back, reading the same input from L1, instead of tasks per channel tile.
    bool channel_tiles_inner = false;
    // vectorize_c only, > 0: the accumulators of a whole output row (every x and batch item)
    // live in memory, and the reduction runs one tap and ci_block input channels at a time
    // over every register tile of the row, so that those weights and inputs stay in L1
    // (without it, each tile streams its whole reduction's weights from L2).
    int ci_block = 0;
    // phase-major template only: the x taps of a phase unrolled. Pays where the channel
    // loop inside them is known to be one channel (depthwise: k3s2_dw 20% faster), where
    // a loop of 1-2 taps around a few FMAs is mostly loop overhead.
    bool unroll_x_taps = false;
    // x-vectorised templates: tasks are (channel tile, n) with every z inside, and each
    // pads its own channels' input (in L2) instead of reading one padded copy of the whole
    // input made first. For depthwise layers, whose tiles read only their own channels:
    // k3s2_dw 1.59 -> 1.14 ms (the padded copy had been a fifth of the time), s1_dw on a
    // k3s1p1 layer of depthwise_k3s2's size 0.97 -> 0.65 ms.
    bool pad_input_per_task = false;
};

// The weight (kx, ky, kz, co, ci) packed with output channels in blocks of `block`:
// packed(co % block, ci, kx, ky, kz, co / block). A channel-vectorised reduction over input
// channels then reads one contiguous stream of weight vectors. Returns the packed Func and
// a view of it with the weight's own indexing, for the algorithm to read.
inline std::pair<Halide::Func, Halide::Func> pack_weight_in_channel_blocks(const Halide::Func &weight,
                                                                          const Halide::Expr &out_channels,
                                                                          int block) {
    using namespace Halide;
    Var co_in("co_in"), ci("ci"), kx("kx"), ky("ky"), kz("kz"), cb("cb"), co("co");
    Func packed("packed_weight"), view("weight_view");
    // Channels past the last one (in a partial last block) repeat it; no output uses them.
    packed(co_in, ci, kx, ky, kz, cb) = weight(kx, ky, kz, min(cb * block + co_in, out_channels - 1), ci);
    view(kx, ky, kz, co, ci) = packed(co % block, ci, kx, ky, kz, co / block);
    return {packed, view};
}

// The loops of pack_weight_in_channel_blocks's packed Func: taps inside input channels, so
// each (ci, block) reads one contiguous piece of the weight, which stays in L1 while it is
// transposed. Returns the block loop (the outermost).
inline Halide::Var order_weight_packing(Halide::Func packed) {
    const auto &v = packed.args();  // co_in, ci, kx, ky, kz, cb
    packed.reorder(v[0], v[2], v[3], v[4], v[1], v[5]);
    return v[5];
}

// The x-vectorised templates' zero-padded input, channels between x and y: padded by each
// task for its own channels (pad_input_per_task), or once for every task.
inline void pad_input_in_channel_rows(ConvTranspose3dFuncs &f, const XTile &t, const CpuScheduleKnobs &k, int lanes) {
    if (k.pad_input_per_task) {
        compute_padded_rows_per_task(f.padded_input, f.output, t.task, lanes);
    } else {
        materialize_padded(f.padded_input, lanes, PaddedLayout::channel_rows);
    }
}

// The x-vectorised templates' packed weights (pack_weights), packed once per call. Blocks of
// tile_c channels (pack_weight_in_channel_blocks): each step of the input-channel loop
// broadcasts tile_c neighbouring weights instead of tile_c values a kernel volume apart, a
// page apart from one input channel to the next. Inlined, the packed view would read the
// weight as given (phase-major, vnet_up_k2s2's layer: 31 -> 23 ms packed, avx2).
inline void pack_weights_once(ConvTranspose3dFuncs &f) {
    if (f.packed_weight.defined()) f.packed_weight.compute_root().parallel(order_weight_packing(f.packed_weight));
}

// The reduction loops, innermost first.
inline std::vector<Halide::VarOrRVar> reduction_order(const ConvTranspose3dFuncs &f, bool ci_inner) {
    if (ci_inner) return {f.r.w, f.r.x, f.r.y, f.r.z};
    return {f.r.x, f.r.y, f.r.z, f.r.w};
}

inline void apply_cpu_schedule_over_channels(ConvTranspose3dFuncs &f, const Halide::Target &target,
                                             const CpuScheduleKnobs &k);

// x-vectorised under phase-major x (FormulationOptions::x_phase_major): the register tile is
// tile_c channels x (vectors * lanes) positions q of one stride phase, the phases one after
// the other; output tiles are aligned to the stride and hold every phase of those positions.
inline void apply_cpu_schedule_phase_major(ConvTranspose3dFuncs &f, const Halide::Target &target,
                                           const CpuScheduleKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    const int tile_q = lanes * k.vectors;
    const int tile_x = tile_q * f.x_phases;
    Func out = f.output, acc = f.accumulator;
    const XTile t;
    const TileTasks tasks = k.pad_input_per_task ? TileTasks::channels_batch : TileTasks::depth_channels_batch;
    auto tile = [&](Stage s, int tc) {
        t.apply(s, f.x, f.y, f.z, f.c, f.n, tile_x, tc, TailStrategy::GuardWithIf, lanes, 1, tasks);
        s.unroll(t.ci);
    };
    tile(out.specialize(out.output_buffer().dim(3).extent() >= k.tile_c), k.tile_c);
    tile(out, 1);

    pad_input_in_channel_rows(f, t, k, lanes);
    pack_weights_once(f);

    // Constant extents (the last x tile is computed whole) keep the tile in registers.
    acc.compute_at(out, t.xo).bound(f.ph, 0, f.x_phases).bound_extent(f.q, tile_q);
    Var aqv("aqv"), aql("aql"), aco("aco"), aci("aci");
    acc.vectorize(f.q, lanes).split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf).unroll(aci);
    std::vector<VarOrRVar> order{aql, aqv, aci};
    for (const VarOrRVar &v : reduction_order(f, k.ci_inner)) order.push_back(v);
    order.push_back(f.ph);
    order.push_back(aco);
    acc.update()
        .split(f.q, aqv, aql, lanes, TailStrategy::GuardWithIf)
        .split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf)
        .reorder(order)
        .vectorize(aql)
        .unroll(aqv)
        .unroll(aci)
        .unroll(f.ph);
    if (k.unroll_x_taps) acc.update().unroll(f.r.x);
}

struct CudaScheduleKnobs {
    int block_x = 32;  // threads along x
    int block_y = 4;   // threads along y
    int tile_c = 4;    // output channels per thread, kept in registers
    int tile_x = 1;    // consecutive x positions per thread, kept in registers
};

// Register tile of tile_c channels x (vectors * lanes) x positions, reduction inside it;
// tasks are (z, channel tile, n) across the thread pool.
inline void apply_cpu_schedule(ConvTranspose3dFuncs &f, const Halide::Target &target,
                               const CpuScheduleKnobs &k) {
    using namespace Halide;
    if (k.vectorize_c) {
        apply_cpu_schedule_over_channels(f, target, k);
        return;
    }
    if (f.x_phase_major) {
        apply_cpu_schedule_phase_major(f, target, k);
        return;
    }
    const int lanes = target.natural_vector_size<float>();
    const int tile_x = lanes * k.vectors;
    Func out = f.output, acc = f.accumulator;
    const XTile t;

    // Tiles overlap at the tensor's edge (ShiftInwards: recomputed values are identical)
    // rather than being guarded, so the register tile always has a constant size. Narrow
    // outputs take one vector per tile, with predicated stores past the edge.
    const TileTasks tasks = k.pad_input_per_task    ? TileTasks::channels_batch
                            : k.channel_tiles_inner ? TileTasks::depth_batch
                                                    : TileTasks::depth_channels_batch;
    // With packed weights, channel tiles start at multiples of the tile, as the weight blocks
    // do, so a tile's weights are one block at fixed offsets; a partial last tile is computed
    // whole (bias and weights read clamped) and stored guarded.
    const bool packed = f.packed_weight.defined();
    const TailStrategy c_tail = packed ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
    auto tile = [&](Stage s, int tx, int tc, TailStrategy x_tail, int ty = 1) {
        t.apply(s, f.x, f.y, f.z, f.c, f.n, tx, tc, x_tail, lanes, ty, tasks, c_tail);
    };
    const Expr width = out.output_buffer().dim(0).extent();
    const Expr height = out.output_buffer().dim(1).extent();
    const Expr channels = out.output_buffer().dim(3).extent();
    auto branches = [&](const Expr &when) {
        tile(out.specialize(when && width >= tile_x && channels >= k.tile_c && height >= k.tile_y), tile_x,
             k.tile_c, TailStrategy::ShiftInwards, k.tile_y);
        tile(out.specialize(when && channels >= k.tile_c), lanes, k.tile_c, TailStrategy::GuardWithIf);
        tile(out.specialize(when), lanes, 1, TailStrategy::GuardWithIf);
    };
    for (const Expr &fast : f.fast_paths) branches(fast);
    branches(Internal::const_true());
    tile(out, lanes, 1, TailStrategy::GuardWithIf);  // never reached: the branch above is always true

    pad_input_in_channel_rows(f, t, k, lanes);
    pack_weights_once(f);

    acc.compute_at(out, t.tile_loop(tasks));
    if (packed) acc.bound_extent(f.c, k.tile_c);
    Var axv("axv"), axl("axl"), aco("aco"), aci("aci");
    acc.vectorize(f.x, lanes, TailStrategy::RoundUp)
        .split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf)
        .unroll(aci)
        .unroll(f.y);
    std::vector<VarOrRVar> order{axl, axv, aci, f.y};
    for (const VarOrRVar &v : reduction_order(f, k.ci_inner)) order.push_back(v);
    order.push_back(aco);
    acc.update()
        .split(f.x, axv, axl, lanes, TailStrategy::RoundUp)
        .split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf)
        .reorder(order)
        .vectorize(axl)
        .unroll(axv)
        .unroll(aci)
        .unroll(f.y);
}

// Each thread accumulates a register tile of tile_x consecutive x positions x tile_c output
// channels (each input load serves tile_c channels, each weight load tile_x positions);
// threads of a block cover block_x tiles along x and block_y rows. Blocks are flattened into
// one grid dimension so that large tensors never exceed the 65535 limit of grid y/z.
inline void apply_cuda_schedule(ConvTranspose3dFuncs &f, const CudaScheduleKnobs &k) {
    using namespace Halide;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), xt("xt"), yo("yo"), yi("yi"), co("co"), ci("ci"), block("block");
    // Registers need a constant tile: channel and x tiles overlap at the end instead of being
    // guarded (the overlap recomputes identical values). Outputs narrower than a tile fall
    // back to tiles of one position or one channel.
    // A guarded x split must not reach the accumulator's loop: its size would no longer be
    // constant, and Halide then sizes it with a host loop over every thread and allocates it
    // in device memory on each call (seen: 3x slower). So x tiles split only when unguarded.
    auto tile = [&](Stage s, int tile_c, int tile_x) {
        s.split(f.c, co, ci, tile_c, TailStrategy::ShiftInwards);
        std::vector<VarOrRVar> order{ci, xi, yi, xo, yo, f.z, co, f.n};
        if (tile_x > 1) {
            s.split(f.x, xo, xi, k.block_x * tile_x, TailStrategy::ShiftInwards).split(xi, xi, xt, tile_x).unroll(xt);
            order.insert(order.begin() + 1, xt);
        } else {
            s.split(f.x, xo, xi, k.block_x, TailStrategy::GuardWithIf);
        }
        s.split(f.y, yo, yi, k.block_y, TailStrategy::GuardWithIf).reorder(order).gpu_threads(xi, yi).unroll(ci);
        gpu_blocks_flattened(s, {xo, yo, f.z, co, f.n}, block);
    };
    const Expr width = out.output_buffer().dim(0).extent();
    const Expr full_c = out.output_buffer().dim(3).extent() >= k.tile_c;
    const Expr full_x = width >= k.block_x * k.tile_x;
    auto branches = [&](const Expr &when) {
        if (k.tile_x > 1) tile(out.specialize(when && full_c && full_x), k.tile_c, k.tile_x);
        tile(out.specialize(when && full_c), k.tile_c, 1);
        tile(out.specialize(when), 1, 1);
    };
    for (const Expr &fast : f.fast_paths) branches(fast);
    branches(Internal::const_true());
    tile(out, 1, 1);  // never reached: the branch above is always true

    acc.compute_at(out, xi).unroll(f.x).unroll(f.c);
    acc.update().reorder(f.c, f.x, f.r.x, f.r.y, f.r.z, f.r.w).unroll(f.c).unroll(f.x);
}

// Register tile of (vectors * lanes) output channels x tile_c x positions: each tap loads
// vectors of packed weights (output channels innermost) and broadcasts one input per x.
// Suits small spatial extents with many channels. Under stride phases the x tile holds
// tile_c positions of each phase, and the reduction runs one phase at a time, so that all
// positions of the register tile share every weight load. Requires groups == 1.
inline void apply_cpu_schedule_over_channels(ConvTranspose3dFuncs &f, const Halide::Target &target,
                                             const CpuScheduleKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    const int tile_c = lanes * k.vectors;
    const int phases = std::max(f.x_phases, 1);
    const int tile_x = k.tile_c * phases;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), task("task");

    materialize_padded(f.padded_input, lanes, PaddedLayout::channel_rows);
    // Weights packed in blocks of tile_c output channels (the generator reads them through
    // pack_weight_in_channel_blocks): once per call, or per task (pack_per_task).
    const Var block = order_weight_packing(f.packed_weight);
    f.packed_weight.vectorize(f.packed_weight.args()[0], lanes, TailStrategy::GuardWithIf);
    if (k.pack_per_task) {
        f.packed_weight.compute_at(out, co);
    } else {
        f.packed_weight.compute_root().parallel(block);
    }

    // Channel tiles start at multiples of the tile, as the weight blocks do. Tasks are (z,
    // channel block) with the block innermost: the tasks that read one input plane run one
    // after the other (on both threads at once), so each plane comes from memory about once
    // rather than once per channel block (avx2, 2 threads, side by side, fastest / p25 /
    // median ms: vnet_up_k2s2 17.4 / 19.9 / 22.4 -> 16.4 / 18.7 / 20.9, unet_up_k2s2
    // 14.2 / 16.6 / 17.7 -> 14.1 / 16.3 / 17.3; decoder_k3s2_op1 the same).
    auto tile = [&](Stage s, TailStrategy x_tail, TailStrategy c_tail = TailStrategy::GuardWithIf) {
        s.split(f.c, co, ci, tile_c, c_tail).split(f.x, xo, xi, tile_x, x_tail);
        if (k.pack_per_task) {
            s.reorder(xi, ci, xo, f.n, f.y, f.z, co).parallel(co);
        } else {
            s.reorder(xi, ci, xo, f.n, f.y, co, f.z).fuse(co, f.z, task).parallel(task);
        }
        s.vectorize(xi, std::min(lanes, tile_x), TailStrategy::GuardWithIf).unroll(ci);
    };
    const Expr width = out.output_buffer().dim(0).extent();
    // Under stride phases, x tiles start at multiples of the tile (a multiple of the stride)
    // so that positions of one phase provably load the same weights and share them.
    const TailStrategy x_tail = f.x_phases ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
    // Whole channel tiles store their rows without a channel test each (vnet_up_k2s2: one
    // compare and branch per row of 8 outputs; 4-8% of the fastest calls, avx2).
    const Expr channels = out.output_buffer().dim(3).extent();
    tile(out.specialize(width >= tile_x && channels % tile_c == 0), x_tail, TailStrategy::RoundUp);
    tile(out.specialize(width >= tile_x), x_tail);
    tile(out, TailStrategy::GuardWithIf);

    // A constant-size accumulator (also for the guarded last tile) stays in registers. A
    // partial last channel tile is computed whole (from clamped weights and bias) and only
    // its real channels are stored. With ci_block, a row of them lives in memory and each
    // register tile is loaded from it and stored back once per tap and block of channels.
    // Where the output stage stores the tile as whole vectors of x (tile_x <= lanes), the tile
    // is Register memory, every position computed and initialised at constant coordinates, so
    // that LLVM transposes it into vectors of x with shuffles between registers instead of
    // gathering each lane back from the stack (avx2, 2 threads, alternating calls: vnet_up_k2s2
    // 7%, unet_up_k2s2 5%, decoder_k3s2_op1 3% faster).
    const bool in_registers = k.ci_block == 0 && tile_x <= lanes;
    Var acv("acv"), acl("acl"), axo("axo"), axi("axi"), aq("aq"), aph("aph");
    if (k.ci_block > 0) {
        acc.compute_at(out, f.y).reorder_storage(f.c, f.x, f.n, f.y, f.z).bound_extent(f.c, tile_c);
    } else {
        acc.compute_at(out, xo)
            .reorder_storage(f.c, f.x, f.y, f.z, f.n)
            .bound_storage(f.x, tile_x)
            .bound_extent(f.c, tile_c)
            .store_in(in_registers ? MemoryType::Register : MemoryType::Stack);
    }
    acc.split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf).unroll(axi);
    if (in_registers) {
        Var acv0("acv0"), acl0("acl0");
        acc.bound_extent(f.x, tile_x)
            .bound_extent(f.y, 1)
            .bound_extent(f.z, 1)
            .bound_extent(f.n, 1)
            .split(f.c, acv0, acl0, lanes, TailStrategy::RoundUp)
            .reorder(acl0, acv0, axi)
            .vectorize(acl0)
            .unroll(acv0);
    } else {
        acc.reorder(f.c, axi).vectorize(f.c, lanes, TailStrategy::GuardWithIf);
    }
    Stage update = acc.update();
    update.split(f.c, acv, acl, lanes, TailStrategy::GuardWithIf)
        .split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf)
        .split(axi, aq, aph, phases);
    std::vector<VarOrRVar> order{acl, acv, aq};
    if (k.ci_block > 0) {
        RVar rwo("rwo"), rwi("rwi");
        update.split(f.r.w, rwo, rwi, k.ci_block, TailStrategy::GuardWithIf);
        order.insert(order.end(), {rwi, aph, axo, f.n, rwo, f.r.x, f.r.y, f.r.z});
    } else {
        for (const VarOrRVar &v : reduction_order(f, k.ci_inner)) order.push_back(v);
        order.push_back(aph);
        order.push_back(axo);
    }
    update.reorder(order).vectorize(acl).unroll(acv).unroll(aq).unroll(aph);
}

}  // namespace convt3d
