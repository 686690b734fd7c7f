// Scheduling pieces that more than one gradient's schedules share: CPU reductions and padded
// copies, and on CUDA the fixed tree of sums of grad_weight and grad_bias.
#pragma once

#include "../generators/conv_transpose3d_backward_algorithm.h"
#include "backward_knobs.h"
#include "cpu_schedule_parts.h"
#include "gpu_schedule_parts.h"

#include <array>
#include <vector>

namespace convt3d {

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

}  // namespace convt3d
