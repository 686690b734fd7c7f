// grad_bias's schedules on the CPU and on CUDA.
#pragma once

#include "backward_schedule_parts.h"

namespace convt3d {

// grad_bias: one task per channel, the reduction vectorised over x.
inline void apply_grad_bias_cpu_schedule(GradBiasFuncs &f, const Halide::Target &target, const BackwardCpuKnobs &k) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    f.output.parallel(f.c);
    f.accumulator.compute_at(f.output, f.c);
    if (k.vectorize_reduction) detail::vectorise_reduction_over_x(f.accumulator, f.r, LoopLevel(f.output, f.c), lanes);
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

}  // namespace convt3d
