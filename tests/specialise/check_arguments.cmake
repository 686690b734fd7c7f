# convt3d_add_specialised_kernel's argument checks and its choice of schedule knobs: each
# case configures arguments/ with one call and looks for a message in the output.
# -D SOURCE_DIR=... -D WORK_DIR=... -D GENERATOR=... -D MAKE_PROGRAM=...
set(forward "${SOURCE_DIR}/schedules/forward.json")
set(layers "${SOURCE_DIR}/tests/specialise/layers_schedule.json")
# "arguments | expected output (regex) | schedule file", the file defaulting to forward.json.
set(cases
    # Accepted: the built-in variant whose knobs a layer takes mirrors the runtime's choice.
    "t IN_CHANNELS 16 OUT_CHANNELS 33 KERNEL_SIZE 3 5 2 STRIDE 2 1 1 PADDING 0 4 2|t \\(avx2\\): knobs of variant generic_g1: .*tile_c=[0-9]+.*vectors=[0-9]+"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 2 STRIDE 2|knobs of variant k2s2_g1"
    "t IN_CHANNELS 4 OUT_CHANNELS 4 KERNEL_SIZE 2 STRIDE 2|knobs of variant k2s2:"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 STRIDE 2 GROUPS 2|knobs of variant k3s2:"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 1 2 ISA sse41|t \\(sse41\\): knobs of variant s1_g1"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 STRIDE 2 DILATION 2 GROUPS 4|knobs of variant generic:"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 2 STRIDE 2|knobs of layers.avx2.in4_out8_k2x2x2_s2x2x2_p0x0x0_d1x1x1_g1: vectors=2 ci_inner=1 tile_c=5|${layers}"
    # Refused, naming the argument and its value.
    "t OUT_CHANNELS 8 KERNEL_SIZE 3|IN_CHANNELS is required"
    "t IN_CHANNELS 4 OUT_CHANNELS 8|KERNEL_SIZE is required"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE|KERNEL_SIZE is given without a value"
    "t IN_CHANNELS 0 OUT_CHANNELS 8 KERNEL_SIZE 3|IN_CHANNELS '0' must be one integer from 1"
    "t IN_CHANNELS 4 OUT_CHANNELS x KERNEL_SIZE 3|OUT_CHANNELS 'x' must be one integer"
    "t IN_CHANNELS 6 OUT_CHANNELS 8 KERNEL_SIZE 3 GROUPS 4|GROUPS 4 must divide IN_CHANNELS 6 and OUT_CHANNELS 8"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 3|KERNEL_SIZE '3 3' must be one integer or three \\(D H W\\)"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 STRIDE 2 0 1|STRIDE '0' must be one integer from 1"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 PADDING -1|PADDING '-1' must be one integer from 0"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 DILATION 1 1 1 1|DILATION '1 1 1 1' must be one integer or three"
    "t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3 ISA neon|ISA 'neon' is not one of avx512, avx2, sse41"
    "t BIAS 1 IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3|unexpected arguments 'BIAS 1'"
    "1t IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3|the name must be a C identifier"
    "generic IN_CHANNELS 4 OUT_CHANNELS 8 KERNEL_SIZE 3|'generic' is a built-in kernel's name")

set(failures 0)
set(i 0)
foreach (case IN LISTS cases)
    string(REPLACE "|" ";" parts "${case}")
    list(GET parts 0 args)
    list(GET parts 1 expect)
    set(schedule "${forward}")
    list(LENGTH parts n)
    if (n GREATER 2)
        list(GET parts 2 schedule)
    endif ()
    math(EXPR i "${i} + 1")
    execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/specialise/arguments" -B "${WORK_DIR}/${i}"
                            -G "${GENERATOR}" "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}"
                            "-DCONVT3D_SOURCE_DIR=${SOURCE_DIR}" "-DCONVT3D_SCHEDULE_FILE=${schedule}"
                            "-DCONVT3D_TEST_ARGS=${args}"
                    OUTPUT_VARIABLE out ERROR_VARIABLE out)
    string(REGEX REPLACE "[ \n]+" " " out "${out}")  # CMake wraps long messages
    # The refused calls must stop at the argument check; the accepted ones pass it.
    set(accepted FALSE)
    if (out MATCHES "convt3d-test: accepted")
        set(accepted TRUE)
    endif ()
    set(to_accept FALSE)
    if (expect MATCHES "knobs of")
        set(to_accept TRUE)
    endif ()
    if (NOT out MATCHES "${expect}" OR NOT accepted STREQUAL to_accept)
        message("${args}: expected '${expect}', got:\n${out}")
        math(EXPR failures "${failures} + 1")
    endif ()
endforeach ()
if (failures)
    message(FATAL_ERROR "${failures} of ${i} cases failed")
endif ()
message("all ${i} cases gave the expected message")
