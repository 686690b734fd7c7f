// What the backward generators share: the run-time geometry Inputs (in the same order as
// the forward kernel's), the schedule knobs of schedules/backward_schedules.h as generator
// parameters, and estimates. Each gradient's generator derives from it.
#pragma once

#include "Halide.h"

#include "conv_transpose3d_backward_algorithm.h"
#include "../schedules/backward_schedules.h"

namespace convt3d {

template<typename T>
class BackwardGenerator : public Halide::Generator<T> {
public:
    template<typename U>
    using Input = Halide::GeneratorInput<U>;

    // Compile-time specialisation: 1 = compiled for groups == 1 (0 = any).
    Halide::GeneratorParam<int> fixed_groups{"fixed_groups", 0};
    // > 0: compiled for this many input channels per group (1: depthwise).
    Halide::GeneratorParam<int> group_in_channels{"group_in_channels", 0};

    // Schedule knobs (see schedules/backward_schedules.h); values from schedules/backward.json.
    Halide::GeneratorParam<int> vectors{"vectors", 2};
    Halide::GeneratorParam<int> tile_c{"tile_c", 4};
    Halide::GeneratorParam<int> vectorize_reduction{"vectorize_reduction", 1};
    Halide::GeneratorParam<int> over_channels{"over_channels", 0};
    Halide::GeneratorParam<int> channel_vectors{"channel_vectors", 2};
    Halide::GeneratorParam<int> channel_tile{"channel_tile", 4};
    Halide::GeneratorParam<int> ci_tiles{"ci_tiles", 1};
    Halide::GeneratorParam<int> block_kz{"block_kz", 0};
    Halide::GeneratorParam<int> small_weights{"small_weights", 0};
    Halide::GeneratorParam<int> rows_per_pass{"rows_per_pass", 1};
    Halide::GeneratorParam<int> blocks_per_pass{"blocks_per_pass", 0};
    Halide::GeneratorParam<int> tiles_inside_taps{"tiles_inside_taps", 0};
    Halide::GeneratorParam<int> over_input{"over_input", 0};
    Halide::GeneratorParam<int> over_input_tile{"over_input_tile", 0};
    Halide::GeneratorParam<int> x_taps_tile{"x_taps_tile", 0};
    Halide::GeneratorParam<int> x_taps_tile_ci{"x_taps_tile_ci", 2};
    Halide::GeneratorParam<int> taps_inner{"taps_inner", 0};
    Halide::GeneratorParam<int> pad_per_task{"pad_per_task", 0};
    Halide::GeneratorParam<int> block_x{"block_x", 32};
    Halide::GeneratorParam<int> block_y{"block_y", 4};
    Halide::GeneratorParam<int> lanes_x{"lanes_x", 8};
    Halide::GeneratorParam<int> lanes_y{"lanes_y", 4};
    Halide::GeneratorParam<int> partial_threads{"partial_threads", 262144};

    Input<int> stride_x{"stride_x"}, stride_y{"stride_y"}, stride_z{"stride_z"};
    Input<int> padding_x{"padding_x"}, padding_y{"padding_y"}, padding_z{"padding_z"};
    Input<int> dilation_x{"dilation_x"}, dilation_y{"dilation_y"}, dilation_z{"dilation_z"};
    Input<int> groups{"groups"};

protected:
    std::array<BackwardAxis, 3> axes() {
        return {BackwardAxis{stride_x, dilation_x, padding_x}, BackwardAxis{stride_y, dilation_y, padding_y},
                BackwardAxis{stride_z, dilation_z, padding_z}};
    }

    BackwardCpuKnobs cpu_knobs() {
        return {vectors, tile_c, vectorize_reduction, over_channels, channel_vectors, channel_tile, ci_tiles, block_kz, small_weights, rows_per_pass,
                blocks_per_pass, tiles_inside_taps, over_input, taps_inner, pad_per_task, over_input_tile,
                x_taps_tile, x_taps_tile_ci};
    }
    bool single_group() const { return fixed_groups == 1; }
    // The formulation the schedule reads: the CPU channel schedules read weights
    // (grad_input) or grad_output (grad_weight) packed in blocks of their channel tile, and
    // skip the taps that read grad_output's zero padding. In the x-vectorised schedules that
    // test costs more than it saves (tiny_latency grad_input 8% slower); CUDA is left as
    // measured.
    BackwardOptions backward_options() const {
        BackwardOptions o;
        o.single_group = single_group();
        if (!on_gpu() && over_channels) {
            o.channel_block = this->get_target().template natural_vector_size<float>() * int(channel_vectors);
            o.prune_padding_rows = true;
        }
        o.padding_by_copy = !on_gpu() && pad_per_task;
        return o;
    }
    BackwardCudaKnobs cuda_knobs() {
        return {block_x, block_y, tile_c, lanes_x, lanes_y, partial_threads};
    }
    bool on_gpu() const { return this->get_target().has_gpu_feature(); }

    void set_geometry_estimates() {
        for (auto *p : {&stride_x, &stride_y, &stride_z}) p->set_estimate(2);
        for (auto *p : {&padding_x, &padding_y, &padding_z}) p->set_estimate(1);
        for (auto *p : {&dilation_x, &dilation_y, &dilation_z}) p->set_estimate(1);
        groups.set_estimate(1);
    }

    // Every buffer starts at 0 (the runtime passes whole tensors).
    template<typename... Buffers>
    static void zero_mins(Buffers &...buffers) {
        (
            [&](auto &b) {
                for (int d = 0; d < b.dimensions(); d++) b.dim(d).set_min(0);
            }(buffers),
            ...);
    }

    void require_groups_divide(const Halide::Expr &in_channels, const Halide::Expr &out_channels) {
        this->add_requirement(groups > 0 && in_channels % groups == 0 && out_channels % groups == 0,
                              "groups must divide the input and output channels");
        if (single_group()) this->add_requirement(groups == 1, "this kernel is compiled for groups == 1");
        if (group_in_channels > 0) {
            this->add_requirement(in_channels == groups * int(group_in_channels),
                                  "this kernel is compiled for a fixed number of input channels per group");
        }
    }
    // The input channels of one group: fixed at compile time, or in_channels / groups.
    Halide::Expr in_channels_per_group(const Halide::Expr &in_channels) const {
        return group_in_channels > 0 ? Halide::Expr(int(group_in_channels)) : in_channels / groups;
    }
};

}  // namespace convt3d
