// Schedule templates for the backward kernels (grad_input, grad_weight, grad_bias). Their
// knobs are plain numbers, so a schedule is data: schedules/backward.json holds the values
// per target class and gradient; cmake/Convt3dBackwardKernels.cmake passes them to the
// generators as generator parameters. Every reduction keeps a fixed order (serial, or
// split into a fixed set of vector lanes that are then summed in order), so gradients are
// bitwise identical from run to run.
#pragma once

#include "../generators/conv_transpose3d_backward_algorithm.h"

namespace convt3d {

struct BackwardCpuKnobs {
    int vectors = 2;              // grad_input: vectors of x per register tile
    int tile_c = 4;               // grad_input: input channels per register tile
    int vectorize_reduction = 1;  // grad_weight/grad_bias: vector lanes over x in the reduction
};

struct BackwardCudaKnobs {
    int block_x = 32;  // grad_input: threads along x; grad_weight/grad_bias: threads per block
    int block_y = 4;   // grad_input: threads along y
};

namespace detail {

// Materialises a zero-padded tensor once (dense loads in the kernel instead of boundary
// selects), parallel over its channels and batch.
inline void materialise_padded(Halide::Func padded, int lanes) {
    using namespace Halide;
    Var cn("cn");
    const auto &v = padded.args();
    padded.compute_root().fuse(v[3], v[4], cn).parallel(cn).vectorize(v[0], lanes, TailStrategy::GuardWithIf);
}

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

// grad_input: register tile of tile_c input channels x (vectors * lanes) x positions with
// the reduction inside it; tasks are (z, channel tile, n) across the thread pool.
inline void apply_grad_input_cpu_schedule(GradInputFuncs &f, const Halide::Target &target,
                                          const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    const int tile_x = lanes * k.vectors;
    Func out = f.output, acc = f.accumulator;
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), zc("zc"), task("task");
    // Full tiles overlap at the edges (ShiftInwards recomputes identical values); small
    // tensors take one guarded vector per tile.
    auto tile = [&](Stage s, int tx, int tc, TailStrategy tail) {
        s.split(f.x, xo, xi, tx, tail)
            .split(f.c, co, ci, tc, TailStrategy::ShiftInwards)
            .reorder(xi, ci, xo, f.y, f.z, co, f.n)
            .fuse(f.z, co, zc)
            .fuse(zc, f.n, task)
            .parallel(task)
            .vectorize(xi, lanes, TailStrategy::GuardWithIf);
    };
    const Expr full = out.output_buffer().dim(0).extent() >= tile_x && out.output_buffer().dim(3).extent() >= k.tile_c;
    for (const Expr &fast : f.fast_paths) tile(out.specialize(fast && full), tile_x, k.tile_c, TailStrategy::ShiftInwards);
    tile(out.specialize(full), tile_x, k.tile_c, TailStrategy::ShiftInwards);
    tile(out, lanes, 1, TailStrategy::GuardWithIf);

    detail::materialise_padded(f.padded_grad_output, lanes);
    acc.compute_at(out, xo);
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

// grad_weight: one task per (output channel in group, input channel); inside it every
// kernel tap reduces over the input positions, vectorised over x.
inline void apply_grad_weight_cpu_schedule(GradWeightFuncs &f, const Halide::Target &target,
                                           const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    Func out = f.output, acc = f.accumulator;
    Var task("task");
    out.fuse(f.co, f.ci, task).parallel(task);
    detail::materialise_padded(f.padded_grad_output, lanes);
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

// grad_input on CUDA: one thread per (x, y) position; blocks are flattened into one grid
// dimension so that large tensors never exceed the 65535 limit of grid y/z.
inline void apply_grad_input_cuda_schedule(GradInputFuncs &f, const BackwardCudaKnobs &k) {
    using namespace Halide;
    Func out = f.output;
    Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), block("block");
    out.tile(f.x, f.y, xo, yo, xi, yi, k.block_x, k.block_y, TailStrategy::GuardWithIf)
        .reorder(xi, yi, xo, yo, f.z, f.c, f.n)
        .fuse(xo, yo, block)
        .fuse(block, f.z, block)
        .fuse(block, f.c, block)
        .fuse(block, f.n, block)
        .gpu_blocks(block)
        .gpu_threads(xi, yi);
    f.accumulator.compute_at(out, xi);
}

// A small output (weights, bias) on CUDA: one thread per element, each reducing serially.
inline void apply_per_element_cuda_schedule(Halide::Func out, Halide::Func acc, const BackwardCudaKnobs &k) {
    using namespace Halide;
    const auto &v = out.args();
    Var all("all"), block("block"), thread("thread");
    Stage s = out;
    Var fused = v[0];
    for (size_t i = 1; i < v.size(); i++) {
        s.fuse(fused, v[i], all);
        fused = all;
    }
    s.split(fused, block, thread, k.block_x, TailStrategy::GuardWithIf).gpu_blocks(block).gpu_threads(thread);
    acc.compute_at(out, thread);
}

}  // namespace convt3d
