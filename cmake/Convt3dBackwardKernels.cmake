# AOT generation of the backward kernels (gradients w.r.t. input, weight and bias): one
# library per (gradient, variant, target), for the same CPU targets as the forward kernels
# (cmake/Convt3dKernels.cmake) plus CUDA when the forward CUDA kernels are built, with
# schedule knobs read from schedules/backward.json, and the generated kernel table.

# Variants per gradient, most specialised first; "generic" takes every parameter at run
# time and must stay last. CONVT3D_BACKWARD_VARIANT_<v> holds its generator parameters;
# CONVT3D_BACKWARD_NEEDS_<v> (or CONVT3D_BACKWARD_NEEDS_<gradient>_<v>, where a variant's
# needs differ by gradient) what the runtime checks before taking it: the stride on every
# axis (0 = any), groups (0 = any), the least number of input and of output channels per
# group, the exact number of input channels per group (0 = any), and the most input channels
# per group (0 = any). CONVT3D_BACKWARD_ISAS_<v>, where set, lists the only CPU ISAs it is
# built for; dispatch on another ISA passes it by.
set(CONVT3D_BACKWARD_GRADIENTS grad_input grad_weight grad_bias)
set(CONVT3D_BACKWARD_VARIANTS_grad_input g1c16 g1 dw generic)
set(CONVT3D_BACKWARD_VARIANTS_grad_weight g1co128 g1 cv dw generic)
set(CONVT3D_BACKWARD_VARIANTS_grad_bias generic)
set(CONVT3D_BACKWARD_VARIANT_generic "")
set(CONVT3D_BACKWARD_NEEDS_generic 0 0 0 0 0 0)
# The CPU schedules that vectorise over channels (see schedules/backward_schedules.h) need
# enough of them: over input channels for grad_input, over the output channels of a group
# for grad_weight. "g1" is compiled for groups == 1 (for grad_weight, every input channel
# of a tile then reads the same grad_output vectors: 2 loads per 8 FMAs instead of 8);
# grad_weight's "cv" takes any groups. CUDA uses "generic".
set(CONVT3D_BACKWARD_VARIANT_g1 fixed_groups=1 over_channels=1)
set(CONVT3D_BACKWARD_NEEDS_grad_input_g1 0 1 8 0 0 0)
set(CONVT3D_BACKWARD_NEEDS_grad_weight_g1 0 1 0 8 0 0)
set(CONVT3D_BACKWARD_VARIANT_cv over_channels=1)
set(CONVT3D_BACKWARD_NEEDS_cv 0 0 0 8 0 0)
# grad_input's "g1c16" is g1 for at most 16 input channels per group, built for AVX-512 alone:
# g1's register tile there is 32 channels, and its accumulator is bound to the whole tile
# (Halide bounds a Func's extent in all of its specialisations alike), so a 16-channel layer
# computed 32; with one vector of 16 (schedules/backward.json) seed_example's grad_input took
# 221 ms instead of 389. On AVX2 and SSE4.1, g1's tile is 16 channels or fewer already.
set(CONVT3D_BACKWARD_VARIANT_g1c16 fixed_groups=1 over_channels=1)
set(CONVT3D_BACKWARD_NEEDS_g1c16 0 1 8 0 0 16)
set(CONVT3D_BACKWARD_ISAS_g1c16 avx512)
# grad_weight's "g1co128" is g1 for at least 128 output channels, built for AVX-512 alone,
# with a register tile of 2 vectors of output channels (schedules/backward.json) where g1's
# is one. On a CPU with two AVX-512 FMA units g1's 8 accumulators only just cover the FMA
# latency; layers this wide fill the larger tile, narrower ones do not (side by side,
# Intel Xeon family 6 model 167, 2 threads, median ms: gan_k4s2p1 14.2 -> 12.4,
# unet_up_k2s2 12.3 -> 10.0; but decoder_k3s2_op1 (64) 5.0 -> 5.3, vnet_up_k2s2 (32)
# and seed_example slower).
set(CONVT3D_BACKWARD_VARIANT_g1co128 fixed_groups=1 over_channels=1)
set(CONVT3D_BACKWARD_NEEDS_g1co128 0 1 0 128 0 0)
set(CONVT3D_BACKWARD_ISAS_g1co128 avx512)
# "dw" (depthwise: one input channel per group, any groups) is the x-vectorised schedule
# with each task padding its own channels' grad_output (pad_per_task), which no other task
# reads; the copy of the whole of it, made first, had been half of grad_input's time.
set(CONVT3D_BACKWARD_VARIANT_dw group_in_channels=1 pad_per_task=1)
set(CONVT3D_BACKWARD_NEEDS_dw 0 0 0 0 1 0)
set(CONVT3D_BACKWARD_CPU_ONLY_VARIANTS g1c16 g1co128 g1 cv dw)

set(CONVT3D_BACKWARD_SCHEDULE_FILE "${PROJECT_SOURCE_DIR}/schedules/backward.json" CACHE FILEPATH
    "Schedule knobs of the backward kernels per target class and gradient")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CONVT3D_BACKWARD_SCHEDULE_FILE}")

# Generates one backward kernel library, convt3d_<gradient>_<variant>_<target_class>.
function(convt3d_add_backward_kernel OUT_NAME gradient variant target_class target)
    set(name convt3d_${gradient}_${variant}_${target_class})
    # The gradient's knobs, then the kernel's own entry ("grad_input:g1"), which the tuner writes.
    convt3d_schedule_params(knobs ${target_class} "${gradient};${gradient}:${variant}"
                            "${CONVT3D_BACKWARD_SCHEDULE_FILE}" backward)
    add_halide_library(${name}
                       FROM convt3d_backward_generators
                       GENERATOR conv_transpose3d_${gradient}
                       TARGETS ${target}
                       USE_RUNTIME convt3d_halide_runtime
                       PARAMS ${CONVT3D_BACKWARD_VARIANT_${variant}} ${knobs})
    set(${OUT_NAME} ${name} PARENT_SCOPE)
endfunction()

# Generates every backward kernel; appends the libraries to OUT_LIBS and writes the table
# (one array per gradient: name, stride, groups, minimum input and output channels per
# group, exact and most input channels per group, CPU kernels by CpuIsa (nullptr where not
# built), CUDA kernel) to TABLE_FILE.
function(convt3d_add_backward_kernels OUT_LIBS TABLE_FILE)
    set(libs "")
    set(includes "")
    set(tables "")
    foreach (gradient IN LISTS CONVT3D_BACKWARD_GRADIENTS)
        set(entries "")
        foreach (variant IN LISTS CONVT3D_BACKWARD_VARIANTS_${gradient})
            set(with_cuda TRUE)
            if (variant IN_LIST CONVT3D_BACKWARD_CPU_ONLY_VARIANTS)
                set(with_cuda FALSE)
            endif ()
            set(isas ${CONVT3D_CPU_ISAS})
            if (DEFINED CONVT3D_BACKWARD_ISAS_${variant})
                set(isas ${CONVT3D_BACKWARD_ISAS_${variant}})
            endif ()
            convt3d_add_kernel_for_targets(libs includes cpu_fns cuda_fn "${isas}" ${with_cuda}
                                           convt3d_add_backward_kernel ${gradient} ${variant})
            set(needs_var CONVT3D_BACKWARD_NEEDS_${variant})
            if (DEFINED CONVT3D_BACKWARD_NEEDS_${gradient}_${variant})
                set(needs_var CONVT3D_BACKWARD_NEEDS_${gradient}_${variant})
            endif ()
            list(JOIN ${needs_var} ", " needs)
            string(APPEND entries "    {\"${variant}\", ${needs}, {${cpu_fns}}, ${cuda_fn}},\n")
        endforeach ()
        string(APPEND tables "const BackwardKernelEntry<${gradient}_fn> k_${gradient}_kernels[] = {\n${entries}};\n")
    endforeach ()
    file(CONFIGURE OUTPUT "${TABLE_FILE}" CONTENT
"// Generated by cmake/Convt3dBackwardKernels.cmake. Do not edit.
${includes}
namespace convt3d::detail {
${tables}}  // namespace convt3d::detail
" @ONLY)
    set(${OUT_LIBS} ${${OUT_LIBS}} ${libs} PARENT_SCOPE)
endfunction()
