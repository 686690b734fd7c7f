# convt3d_add_specialised_kernel(): a forward kernel compiled for one fixed layer, for this
# build and for projects using the installed package (after find_package(convt3d)).
#
#   convt3d_add_specialised_kernel(<name>
#       IN_CHANNELS <n> OUT_CHANNELS <n> KERNEL_SIZE <k | kD kH kW>
#       [STRIDE <s | sD sH sW>]      default 1
#       [PADDING <p | pD pH pW>]     default 0
#       [DILATION <d | dD dH dW>]    default 1
#       [GROUPS <g>]                 default 1
#       [ISA <avx512 | avx2 | sse41>...])  default avx2
#
# Creates the target <name>: link it (target_link_libraries(app PRIVATE <name>)) and every
# convt3d forward call on the CPU whose channels, kernel_size, stride, padding, dilation and
# groups equal these runs this kernel instead of a built-in one (batch, spatial sizes,
# output_padding and bias stay free), on a CPU that runs one of its ISAs and unless another
# ISA is forced. CONVT3D_VERBOSE=1 then prints "convt3d: forward kernel <name> on cpu (avx2)".
#
# How: the forward generator (convt3d::forward_generator) runs once per ISA with the whole
# layer fixed, taking the schedule knobs of the built-in variant the runtime would otherwise
# choose, overridden by forward.json's "layers" entry for this exact layer if there is one
# (the format is in forward.json's "about"). The kernels are built without a Halide runtime
# (convt3d's archive carries it). They go into the static library <name>.kernels with a
# generated source that calls convt3d::register_kernel() during static initialisation;
# <name> links that library whole-archive so the linker cannot drop the registration.
include_guard(GLOBAL)

if (CMAKE_VERSION VERSION_LESS 3.24)
    message(FATAL_ERROR "convt3d_add_specialised_kernel needs CMake 3.24 or newer (for $<LINK_LIBRARY:WHOLE_ARCHIVE>)")
endif ()

# Checks that `values` is one integer from `min` to 999999999 (the generator takes ints) and
# stores it in OUT; `fn` and `arg` name the call and argument in the error.
function(_convt3d_spec_integer OUT fn arg min values)
    string(LENGTH "${values}" digits)
    if (NOT values MATCHES "^(0|[1-9][0-9]*)$" OR digits GREATER 9 OR values LESS min)
        message(FATAL_ERROR "${fn}: ${arg} '${values}' must be one integer from ${min} to 999999999")
    endif ()
    set(${OUT} ${values} PARENT_SCOPE)
endfunction()

# Checks that `values` (else `default`) is one integer or three (D H W), each at least `min`;
# stores three in OUT.
function(_convt3d_spec_triple OUT fn arg min default values)
    if (values STREQUAL "")
        set(values ${default})
    endif ()
    list(LENGTH values n)
    if (n EQUAL 1)
        set(values ${values} ${values} ${values})
    elseif (NOT n EQUAL 3)
        list(JOIN values " " values)
        message(FATAL_ERROR "${fn}: ${arg} '${values}' must be one integer or three (D H W)")
    endif ()
    foreach (v IN LISTS values)
        _convt3d_spec_integer(v "${fn}" "${arg}" ${min} "${v}")
    endforeach ()
    set(${OUT} ${values} PARENT_SCOPE)
endfunction()

# The built-in variant that the runtime would choose for this layer on the CPU: the first of
# CONVT3D_FORWARD_VARIANTS whose constants (0 = any) and minimum out_channels hold, as the
# runtime's entry_supports() decides (runtime/src/kernel_table.cpp).
function(_convt3d_spec_variant OUT stride kernel dilation groups in_channels out_channels)
    foreach (variant IN LISTS CONVT3D_FORWARD_VARIANTS)
        set(fits TRUE)
        foreach (constant IN LISTS CONVT3D_VARIANT_${variant})  # e.g. stride=2
            string(REGEX MATCH "^([a-z_]+)=([0-9]+)$" constant "${constant}")
            set(key ${CMAKE_MATCH_1})
            set(value ${CMAKE_MATCH_2})
            if (value EQUAL 0)
                continue()
            elseif (key STREQUAL "fixed_groups")
                set(values ${groups})
            elseif (key STREQUAL "group_in_channels")
                math(EXPR values "${in_channels} / ${groups}")
            elseif (key MATCHES "^(stride|kernel|dilation)$")
                set(values ${${key}})
            else ()
                message(FATAL_ERROR "convt3d: variant ${variant} fixes '${key}', which "
                                    "Convt3dSpecialise.cmake does not know how to match")
            endif ()
            foreach (v IN LISTS values)
                if (NOT v EQUAL value)
                    set(fits FALSE)
                endif ()
            endforeach ()
        endforeach ()
        if (DEFINED CONVT3D_MIN_OUT_CHANNELS_${variant} AND out_channels LESS CONVT3D_MIN_OUT_CHANNELS_${variant})
            set(fits FALSE)
        endif ()
        if (fits)
            set(${OUT} ${variant} PARENT_SCOPE)
            return()
        endif ()
    endforeach ()
    message(FATAL_ERROR "convt3d: no built-in variant fits; CONVT3D_FORWARD_VARIANTS must end with generic")
endfunction()

function(convt3d_add_specialised_kernel name)
    set(fn "convt3d_add_specialised_kernel(${name})")
    cmake_parse_arguments(PARSE_ARGV 1 ARG "" "IN_CHANNELS;OUT_CHANNELS;GROUPS"
                          "KERNEL_SIZE;STRIDE;PADDING;DILATION;ISA")
    if (ARG_UNPARSED_ARGUMENTS)
        list(JOIN ARG_UNPARSED_ARGUMENTS " " unexpected)
        message(FATAL_ERROR "${fn}: unexpected arguments '${unexpected}'")
    endif ()
    foreach (arg IN LISTS ARG_KEYWORDS_MISSING_VALUES)
        message(FATAL_ERROR "${fn}: ${arg} is given without a value")
    endforeach ()
    if (NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
        message(FATAL_ERROR "${fn}: the name must be a C identifier (it names the kernel's function)")
    endif ()
    if (NOT DEFINED CONVT3D_FORWARD_VARIANTS OR NOT TARGET convt3d::forward_generator)
        message(FATAL_ERROR "${fn}: call find_package(convt3d) first, in this directory or a parent")
    endif ()
    if (name IN_LIST CONVT3D_FORWARD_VARIANTS)
        message(FATAL_ERROR "${fn}: '${name}' is a built-in kernel's name; choose another")
    endif ()
    foreach (arg IN ITEMS IN_CHANNELS OUT_CHANNELS KERNEL_SIZE)
        if (NOT DEFINED ARG_${arg})
            message(FATAL_ERROR "${fn}: ${arg} is required")
        endif ()
    endforeach ()

    # The layer, each triple in (D, H, W) order as torch.nn.ConvTranspose3d takes it.
    _convt3d_spec_integer(in_channels "${fn}" IN_CHANNELS 1 "${ARG_IN_CHANNELS}")
    _convt3d_spec_integer(out_channels "${fn}" OUT_CHANNELS 1 "${ARG_OUT_CHANNELS}")
    _convt3d_spec_triple(kernel "${fn}" KERNEL_SIZE 1 "" "${ARG_KERNEL_SIZE}")
    _convt3d_spec_triple(stride "${fn}" STRIDE 1 1 "${ARG_STRIDE}")
    _convt3d_spec_triple(padding "${fn}" PADDING 0 0 "${ARG_PADDING}")
    _convt3d_spec_triple(dilation "${fn}" DILATION 1 1 "${ARG_DILATION}")
    if (NOT DEFINED ARG_GROUPS)
        set(ARG_GROUPS 1)
    endif ()
    _convt3d_spec_integer(groups "${fn}" GROUPS 1 "${ARG_GROUPS}")
    math(EXPR in_rest "${in_channels} % ${groups}")
    math(EXPR out_rest "${out_channels} % ${groups}")
    if (in_rest OR out_rest)
        message(FATAL_ERROR "${fn}: GROUPS ${groups} must divide IN_CHANNELS ${in_channels} "
                            "and OUT_CHANNELS ${out_channels}")
    endif ()
    if (NOT DEFINED ARG_ISA)
        set(ARG_ISA avx2)
    endif ()
    list(REMOVE_DUPLICATES ARG_ISA)
    foreach (isa IN LISTS ARG_ISA)
        if (NOT isa IN_LIST CONVT3D_CPU_ISAS)
            list(JOIN CONVT3D_CPU_ISAS ", " known)
            message(FATAL_ERROR "${fn}: ISA '${isa}' is not one of ${known}")
        endif ()
    endforeach ()

    # Schedule knobs: the runtime's variant for this layer, then the layer's own entry.
    _convt3d_spec_variant(variant "${stride}" "${kernel}" "${dilation}" ${groups} ${in_channels} ${out_channels})
    string(JOIN x key_kernel ${kernel})
    string(JOIN x key_stride ${stride})
    string(JOIN x key_padding ${padding})
    string(JOIN x key_dilation ${dilation})
    set(layer_key "in${in_channels}_out${out_channels}_k${key_kernel}_s${key_stride}_p${key_padding}_d${key_dilation}_g${groups}")
    file(READ "${CONVT3D_SCHEDULE_FILE}" json)

    list(JOIN kernel "," kernel_param)
    list(JOIN stride "," stride_param)
    list(JOIN padding "," padding_param)
    list(JOIN dilation "," dilation_param)
    set(layer_params stride=${stride_param} kernel=${kernel_param} dilation=${dilation_param}
                     padding=${padding_param} fixed_groups=${groups}
                     in_channels=${in_channels} out_channels=${out_channels})

    set(dir "${CMAKE_CURRENT_BINARY_DIR}/${name}.convt3d")
    file(MAKE_DIRECTORY "${dir}")
    get_target_property(generator convt3d::forward_generator ALIASED_TARGET)
    if (NOT generator)
        set(generator convt3d::forward_generator)
    endif ()
    set(sources "")
    set(includes "")
    set(registrations "")
    foreach (isa IN LISTS ARG_ISA)
        convt3d_schedule_params(knobs ${isa} ${variant})
        set(source "variant ${variant}")
        string(JSON layer_entry ERROR_VARIABLE no_entry GET "${json}" layers ${isa} ${layer_key})
        if (NOT no_entry)
            convt3d_merge_knobs(knobs "${json}" layers ${isa} ${layer_key})
            set(source "layers.${isa}.${layer_key}")
        endif ()
        list(JOIN knobs " " shown)
        message(STATUS "convt3d: ${name} (${isa}): knobs of ${source}: ${shown}")

        set(function convt3d_specialised_${name}_${isa})
        add_custom_command(OUTPUT "${dir}/${function}.o" "${dir}/${function}.h"
                           COMMAND "$<TARGET_FILE:${generator}>" -g conv_transpose3d_forward
                                   -o "${dir}" -n ${function} -f ${function} -e object,c_header
                                   target=${CONVT3D_TARGET_${isa}}-no_runtime ${layer_params} ${knobs}
                           DEPENDS ${generator}
                           COMMENT "convt3d: generating the ${isa} kernel ${name}"
                           VERBATIM)
        list(APPEND sources "${dir}/${function}.o" "${dir}/${function}.h")
        string(APPEND includes "#include \"${function}.h\"\n")
        string(APPEND registrations "        add(convt3d::CpuIsa::${isa}, &${function});\n")
    endforeach ()

    list(JOIN kernel ", " kernel_size)
    list(JOIN stride ", " stride)
    list(JOIN padding ", " padding)
    list(JOIN dilation ", " dilation)
    file(CONFIGURE OUTPUT "${dir}/register_${name}.cpp" CONTENT
"// Generated by @fn@: registers its kernels with
// the convt3d runtime during static initialisation. Do not edit.
#include <convt3d/convt3d.hpp>

@includes@
namespace {

struct Registration {
    Registration() {
@registrations@    }
    static void add(convt3d::CpuIsa isa, convt3d::ForwardKernelFn function) {
        convt3d::SpecialisedKernel k;
        k.name = \"@name@\";
        k.layer.in_channels = @in_channels@;
        k.layer.out_channels = @out_channels@;
        k.layer.kernel_size = {@kernel_size@};
        k.layer.stride = {@stride@};
        k.layer.padding = {@padding@};
        k.layer.dilation = {@dilation@};
        k.layer.groups = @groups@;
        k.cpu_isa = isa;
        k.function = function;
        convt3d::register_kernel(k);
    }
} registration;

}  // namespace
" @ONLY)
    list(APPEND sources "${dir}/register_${name}.cpp")

    add_library(${name}.kernels STATIC ${sources})
    set_source_files_properties(${sources} PROPERTIES GENERATED TRUE)
    list(FILTER sources INCLUDE REGEX "\\.o$")
    set_source_files_properties(${sources} PROPERTIES EXTERNAL_OBJECT TRUE)
    target_include_directories(${name}.kernels PRIVATE "${dir}")
    target_link_libraries(${name}.kernels PUBLIC convt3d::convt3d)
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE "$<LINK_LIBRARY:WHOLE_ARCHIVE,${name}.kernels>")
endfunction()
