// The backward schedules' knobs (schedules/backward_schedules.h). They are plain numbers, so a
// schedule is data: schedules/backward.json holds the values per target class and gradient;
// cmake/Convt3dBackwardKernels.cmake passes them to the generators as generator parameters.
#pragma once



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
    int over_input = 0;           // grad_weight (channel schedule): where grad_weight_over_input_where holds, vectors of input channels instead
    int taps_inner = 0;           // grad_weight, x-vectorised (with vectorize_reduction): every tap summed along each input row in turn
    // x-vectorised kernels: each task pads the grad_output it reads itself (zeros, then
    // grad_output copied over them; in L2) instead of all tasks reading one padded copy made
    // first. For depthwise layers, whose tasks read only their own channels (grad_input's
    // tasks become (channel tile, n) with every z inside).
    int pad_per_task = 0;
    // grad_weight with over_input: the output channels each step of the formulation over input
    // channels broadcasts (its register tile is channel_vectors vectors by these); 0 takes
    // channel_tile.
    int over_input_tile = 0;
    // grad_weight (channel schedule), > 0: where the kernel is this many taps wide in x, each
    // register tile holds all of its x taps for x_taps_tile_ci input channels.
    int x_taps_tile = 0;
    int x_taps_tile_ci = 2;
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

}  // namespace convt3d
