// Scheduling pieces shared by the CUDA schedules of the forward and backward kernels.
#pragma once

#include "Halide.h"

#include <vector>

namespace convt3d {

// Fuses `loops` (innermost first) into the one loop `block` and runs it over GPU blocks: a
// single grid dimension, so that large tensors never exceed the 65535 limit of grid y and z.
inline void gpu_blocks_flattened(Halide::Stage s, const std::vector<Halide::VarOrRVar> &loops,
                                 const Halide::Var &block) {
    if (loops.size() == 1) {
        s.rename(loops[0], block);
    } else {
        s.fuse(loops[0], loops[1], block);
        for (size_t i = 2; i < loops.size(); i++) s.fuse(block, loops[i], block);
    }
    s.gpu_blocks(block);
}

}  // namespace convt3d
