# AOT generation of the forward kernels: one library per (variant, target), with schedule
# knobs read from schedules/forward.json, plus the generated kernel table for the runtime.
# The installed package includes this file too (for convt3d_add_specialised_kernel in
# Convt3dSpecialise.cmake): keep it to definitions, with nothing that needs this source tree.

# Compile-time specialisations, most specialised first; the runtime takes the first whose
# preconditions hold. "generic" takes every parameter at run time and must stay last.
set(CONVT3D_FORWARD_VARIANTS k2s2_g1 k3s2_g1 k4s2_g1 s1_g1 k2s2_dw k3s2_dw k4s2_dw s1_dw k2s2 k3s2 k4s2 s1 generic_g1 generic)
set(CONVT3D_VARIANT_k2s2_g1 stride=2 kernel=2 dilation=1 fixed_groups=1)
set(CONVT3D_VARIANT_k3s2_g1 stride=2 kernel=3 dilation=1 fixed_groups=1)
set(CONVT3D_VARIANT_k4s2_g1 stride=2 kernel=4 dilation=1 fixed_groups=1)
set(CONVT3D_VARIANT_s1_g1 stride=1 kernel=0 dilation=0 fixed_groups=1)
# Depthwise (one input channel per group, any groups): the channel loop is gone, each task
# pads its own channels' input, and the phase-major ones unroll the x taps around it.
set(CONVT3D_VARIANT_k2s2_dw stride=2 kernel=2 dilation=1 fixed_groups=0 group_in_channels=1)
set(CONVT3D_VARIANT_k3s2_dw stride=2 kernel=3 dilation=1 fixed_groups=0 group_in_channels=1)
set(CONVT3D_VARIANT_k4s2_dw stride=2 kernel=4 dilation=1 fixed_groups=0 group_in_channels=1)
set(CONVT3D_VARIANT_s1_dw stride=1 kernel=0 dilation=0 fixed_groups=0 group_in_channels=1)
set(CONVT3D_VARIANT_k2s2 stride=2 kernel=2 dilation=1 fixed_groups=0)
set(CONVT3D_VARIANT_k3s2 stride=2 kernel=3 dilation=1 fixed_groups=0)
set(CONVT3D_VARIANT_k4s2 stride=2 kernel=4 dilation=1 fixed_groups=0)
set(CONVT3D_VARIANT_s1 stride=1 kernel=0 dilation=0 fixed_groups=0)
set(CONVT3D_VARIANT_generic_g1 stride=0 kernel=0 dilation=0 fixed_groups=1)
set(CONVT3D_VARIANT_generic stride=0 kernel=0 dilation=0 fixed_groups=0)
# The *_g1 and *_dw variants only change the CPU schedule (groups == 1 lets every output
# channel share the input loads); CUDA uses the grouped kernels for them. Those that vectorise over
# output channels need enough of them to fill their vectors: the runtime takes them only
# from CONVT3D_MIN_OUT_CHANNELS_<variant> channels up.
set(CONVT3D_CPU_ONLY_VARIANTS k2s2_g1 k3s2_g1 k4s2_g1 s1_g1 k2s2_dw k3s2_dw k4s2_dw s1_dw generic_g1)
foreach (v IN ITEMS k2s2_g1 k3s2_g1 k4s2_g1 s1_g1)
    set(CONVT3D_MIN_OUT_CHANNELS_${v} 8)
endforeach ()

# The value a variant fixes for `key` (stride, kernel, dilation, fixed_groups,
# group_in_channels) in OUT: 0 where it leaves it to run time.
function(convt3d_variant_constant OUT variant key)
    set(value 0)
    foreach (constant IN LISTS CONVT3D_VARIANT_${variant})
        if (constant MATCHES "^${key}=([0-9]+)$")
            set(value ${CMAKE_MATCH_1})
        endif ()
    endforeach ()
    set(${OUT} ${value} PARENT_SCOPE)
endfunction()

# CPU variants, best first; the runtime picks by CPU features. Never `host`.
set(CONVT3D_CPU_ISAS avx512 avx2 sse41)
set(CONVT3D_TARGET_avx512 x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake)
set(CONVT3D_TARGET_avx2 x86-64-linux-sse41-avx-f16c-fma-avx2)
set(CONVT3D_TARGET_sse41 x86-64-linux-sse41)
set(CONVT3D_TARGET_cuda x86-64-linux-sse41-cuda-${CONVT3D_CUDA_CAPABILITY})

set(CONVT3D_SCHEDULE_FILE "${PROJECT_SOURCE_DIR}/schedules/forward.json" CACHE FILEPATH
    "Schedule knobs per target class and variant")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CONVT3D_SCHEDULE_FILE}")

# Merges the knobs of the JSON object at `json` / path... into the "knob=value" list in the
# variable PARAMS (a knob given again replaces the earlier value); no object there: no change.
function(convt3d_merge_knobs PARAMS json)
    set(params "${${PARAMS}}")  # read first, before a local variable can hide the caller's
    string(JSON knobs ERROR_VARIABLE missing GET "${json}" ${ARGN})
    if (missing)
        return()
    endif ()
    string(JSON n LENGTH "${knobs}")
    if (n EQUAL 0)
        return()
    endif ()
    math(EXPR last "${n} - 1")
    foreach (i RANGE ${last})
        string(JSON key MEMBER "${knobs}" ${i})
        string(JSON value GET "${knobs}" ${key})
        list(FILTER params EXCLUDE REGEX "^${key}=")
        list(APPEND params "${key}=${value}")
    endforeach ()
    set(${PARAMS} "${params}" PARENT_SCOPE)
endfunction()

# Reads the knobs for (target class, variant) from the schedule file into OUT as
# "knob=value" generator parameters; the variant's entry overrides the class's "default"
# (variant may be a list of entries, applied in order: the backward kernels pass their
# gradient's, then their own).
# Optional arguments: another schedule file and its top-level key (default: the forward's).
function(convt3d_schedule_params OUT target_class variant)
    set(file "${CONVT3D_SCHEDULE_FILE}")
    set(pass forward)
    if (ARGC GREATER 4)
        set(file "${ARGV3}")
        set(pass "${ARGV4}")
    endif ()
    file(READ "${file}" json)
    set(params "")
    foreach (entry IN ITEMS default ${variant})
        convt3d_merge_knobs(params "${json}" ${pass} ${target_class} ${entry})
    endforeach ()
    set(${OUT} "${params}" PARENT_SCOPE)
endfunction()

# Generates one forward kernel library named convt3d_forward_<variant>_<suffix>.
function(convt3d_add_forward_kernel OUT_NAME variant target_class target)
    set(name convt3d_forward_${variant}_${target_class})
    convt3d_schedule_params(knobs ${target_class} ${variant})
    add_halide_library(${name}
                       FROM convt3d_generators
                       GENERATOR conv_transpose3d_forward
                       TARGETS ${target}
                       USE_RUNTIME convt3d_halide_runtime
                       PARAMS ${CONVT3D_VARIANT_${variant}} ${knobs})
    set(${OUT_NAME} ${name} PARENT_SCOPE)
endfunction()

# Runs a kernel-generating function (convt3d_add_forward_kernel, convt3d_add_backward_kernel;
# ARGN are its arguments before the target class and target) for the CPU ISAs in `isas` (a
# list; the others get no kernel) and, if `with_cuda`, for CUDA: appends the libraries to
# OUT_LIBS and their #include lines to OUT_INCLUDES, and sets OUT_CPU_FNS ("&a, nullptr, &c"
# by CpuIsa) and OUT_CUDA_FN ("&d" or "nullptr") for a generated kernel table.
function(convt3d_add_kernel_for_targets OUT_LIBS OUT_INCLUDES OUT_CPU_FNS OUT_CUDA_FN isas with_cuda adder)
    set(libs ${${OUT_LIBS}})
    set(includes "${${OUT_INCLUDES}}")
    set(cpu_fns "")
    set(cuda_fn "nullptr")
    set(targets "")
    foreach (isa IN LISTS CONVT3D_CPU_ISAS)
        list(APPEND cpu_fns nullptr)
        if (isa IN_LIST isas)
            list(APPEND targets "${isa}=${CONVT3D_TARGET_${isa}}")
        endif ()
    endforeach ()
    if (CONVT3D_ENABLE_CUDA AND with_cuda)
        list(APPEND targets "cuda=${CONVT3D_TARGET_cuda}")
    endif ()
    foreach (entry IN LISTS targets)
        string(REPLACE "=" ";" entry "${entry}")
        list(GET entry 0 target_class)
        list(GET entry 1 target)
        cmake_language(CALL ${adder} lib ${ARGN} ${target_class} ${target})
        list(APPEND libs ${lib})
        string(APPEND includes "#include \"${lib}.h\"\n")
        if (target_class STREQUAL "cuda")
            set(cuda_fn "&${lib}")
        else ()
            list(FIND CONVT3D_CPU_ISAS ${target_class} slot)
            list(REMOVE_AT cpu_fns ${slot})
            list(INSERT cpu_fns ${slot} "&${lib}")
        endif ()
    endforeach ()
    list(JOIN cpu_fns ", " cpu_fns)
    set(${OUT_LIBS} ${libs} PARENT_SCOPE)
    set(${OUT_INCLUDES} "${includes}" PARENT_SCOPE)
    set(${OUT_CPU_FNS} "${cpu_fns}" PARENT_SCOPE)
    set(${OUT_CUDA_FN} "${cuda_fn}" PARENT_SCOPE)
endfunction()
