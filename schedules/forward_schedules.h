// Schedule templates for the forward kernel. Their knobs are plain numbers, so a schedule
// is data: schedules/forward.json holds the values per variant and target class; CMake
// passes them to the generator as generator parameters; the autotuner rewrites the JSON.
#pragma once

#include "../generators/conv_transpose3d_algorithm.h"

namespace convt3d {

struct CpuScheduleKnobs {
    int vectors = 2;  // vectors of x per register tile (of c when vectorize_c)
    int tile_c = 4;   // output channels per register tile (x positions when vectorize_c)
    bool vectorize_c = false;  // vectors run over output channels: needs groups == 1
};

inline void apply_cpu_schedule_over_channels(ConvTranspose3dFuncs &f, const Halide::Target &target,
                                             const CpuScheduleKnobs &k);

struct CudaScheduleKnobs {
    int block_x = 32;  // threads along x
    int block_y = 4;   // threads along y
    int tile_c = 4;    // output channels per thread, kept in registers
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
    const int lanes = target.natural_vector_size<float>();
    const int tile_x = lanes * k.vectors;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), zc("zc"), task("task");

    // Tiles overlap at the tensor's edge (ShiftInwards: recomputed values are identical)
    // rather than being guarded, so the register tile always has a constant size. Narrow
    // outputs take one vector per tile, with predicated stores past the edge.
    auto tile = [&](Stage s, int tx, int tc, TailStrategy x_tail) {
        s.split(f.x, xo, xi, tx, x_tail)
            .split(f.c, co, ci, tc, TailStrategy::ShiftInwards)
            .reorder(xi, ci, xo, f.y, f.z, co, f.n)
            .fuse(f.z, co, zc)
            .fuse(zc, f.n, task)
            .parallel(task)
            .vectorize(xi, lanes, TailStrategy::GuardWithIf);
    };
    const Expr width = out.output_buffer().dim(0).extent();
    const Expr channels = out.output_buffer().dim(3).extent();
    auto branches = [&](const Expr &when) {
        tile(out.specialize(when && width >= tile_x && channels >= k.tile_c), tile_x, k.tile_c,
             TailStrategy::ShiftInwards);
        tile(out.specialize(when && channels >= k.tile_c), lanes, k.tile_c, TailStrategy::GuardWithIf);
        tile(out.specialize(when), lanes, 1, TailStrategy::GuardWithIf);
    };
    for (const Expr &fast : f.fast_paths) branches(fast);
    branches(Internal::const_true());
    tile(out, lanes, 1, TailStrategy::GuardWithIf);  // never reached: the branch above is always true

    // Materialising the zero-padded input once turns the kernel's boundary selects, which
    // vectorise into gathers, into dense loads.
    Var px("px"), pn("pn");
    const auto &pv = f.padded_input.args();
    f.padded_input.compute_root()
        .fuse(pv[3], pv[4], pn)
        .parallel(pn)
        .vectorize(pv[0], lanes, TailStrategy::GuardWithIf);

    acc.compute_at(out, xo);
    Var axv("axv"), axl("axl"), aco("aco"), aci("aci");
    acc.vectorize(f.x, lanes, TailStrategy::RoundUp)
        .split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf)
        .unroll(aci);
    acc.update()
        .split(f.x, axv, axl, lanes, TailStrategy::RoundUp)
        .split(f.c, aco, aci, k.tile_c, TailStrategy::GuardWithIf)
        .reorder(axl, axv, aci, f.r.x, f.r.y, f.r.z, f.r.w, aco)
        .vectorize(axl)
        .unroll(axv)
        .unroll(aci);
}

// One thread per (x, y) position and tile_c output channels; blocks are flattened into
// one grid dimension so that large tensors never exceed the 65535 limit of grid y/z.
inline void apply_cuda_schedule(ConvTranspose3dFuncs &f, const CudaScheduleKnobs &k) {
    using namespace Halide;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), co("co"), ci("ci"), block("block");
    // Registers need a constant tile: channel tiles overlap at the end instead of being
    // guarded, and outputs with fewer channels than a tile use tiles of one channel.
    auto tile = [&](Stage s, int tile_c) {
        s.split(f.c, co, ci, tile_c, TailStrategy::ShiftInwards)
            .tile(f.x, f.y, xo, yo, xi, yi, k.block_x, k.block_y, TailStrategy::GuardWithIf)
            .reorder(ci, xi, yi, xo, yo, f.z, co, f.n)
            .fuse(xo, yo, block)
            .fuse(block, f.z, block)
            .fuse(block, co, block)
            .fuse(block, f.n, block)
            .gpu_blocks(block)
            .gpu_threads(xi, yi)
            .unroll(ci);
    };
    Expr full_tiles = out.output_buffer().dim(3).extent() >= k.tile_c;
    for (const Expr &fast : f.fast_paths) tile(out.specialize(fast && full_tiles), k.tile_c);
    tile(out.specialize(full_tiles), k.tile_c);
    for (const Expr &fast : f.fast_paths) tile(out.specialize(fast), 1);
    tile(out, 1);

    acc.compute_at(out, xi).unroll(f.c);
    acc.update().reorder(f.c, f.r.x, f.r.y, f.r.z, f.r.w).unroll(f.c);
}

// Register tile of (vectors * lanes) output channels x tile_c x positions: each tap loads
// one vector of packed weights (output channels innermost) and broadcasts one input per x.
// Suits small spatial extents with many channels, and stride phases, which then differ per
// x position of the unrolled tile rather than per vector lane. Requires groups == 1.
inline void apply_cpu_schedule_over_channels(ConvTranspose3dFuncs &f, const Halide::Target &target,
                                             const CpuScheduleKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    const int tile_c = lanes * k.vectors;
    const int tile_x = k.tile_c;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), zc("zc"), task("task");

    Var pn("pn");
    const auto &pv = f.padded_input.args();
    f.padded_input.compute_root()
        .fuse(pv[3], pv[4], pn)
        .parallel(pn)
        .vectorize(pv[0], lanes, TailStrategy::GuardWithIf);
    // Weights packed once per call with output channels innermost.
    Func packed = f.weight.in(acc);
    const auto &wv = packed.args();
    packed.compute_root().reorder_storage(wv[3], wv[0], wv[1], wv[2], wv[4]).reorder(wv[3], wv[0], wv[1], wv[2], wv[4]);

    auto tile = [&](Stage s, int tc, int tx, TailStrategy x_tail) {
        s.split(f.c, co, ci, tc, TailStrategy::ShiftInwards)
            .split(f.x, xo, xi, tx, x_tail)
            .reorder(xi, ci, xo, f.y, f.z, co, f.n)
            .fuse(f.z, co, zc)
            .fuse(zc, f.n, task)
            .parallel(task)
            .vectorize(xi, std::min(lanes, tx), TailStrategy::GuardWithIf);
    };
    const Expr width = out.output_buffer().dim(0).extent();
    const Expr channels = out.output_buffer().dim(3).extent();
    // Under stride phases, x tiles start at multiples of the tile (a multiple of the stride)
    // so that positions of one phase provably load the same weights and share them.
    const TailStrategy x_tail = f.x_phases ? TailStrategy::GuardWithIf : TailStrategy::ShiftInwards;
    tile(out.specialize(channels >= tile_c && width >= tile_x), tile_c, tile_x, x_tail);
    if (tile_c > lanes) {
        tile(out.specialize(channels >= lanes && width >= tile_x), lanes, tile_x, x_tail);
    }
    tile(out.specialize(width >= tile_x), 1, tile_x, x_tail);
    tile(out, 1, tile_x, TailStrategy::GuardWithIf);

    acc.compute_at(out, xo).reorder_storage(f.c, f.x, f.y, f.z, f.n);
    Var acv("acv"), acl("acl"), axo("axo"), axi("axi");
    acc.split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf)
        .reorder(f.c, axi)
        .vectorize(f.c, lanes, TailStrategy::GuardWithIf)
        .unroll(axi);
    acc.update()
        .split(f.c, acv, acl, lanes, TailStrategy::GuardWithIf)
        .split(f.x, axo, axi, tile_x, TailStrategy::GuardWithIf)
        .reorder(acl, acv, axi, f.r.x, f.r.y, f.r.z, f.r.w, axo)
        .vectorize(acl)
        .unroll(acv)
        .unroll(axi);
}

}  // namespace convt3d
