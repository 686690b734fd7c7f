# Installs this build, then configures, builds and runs an example project under examples/
# against the installed package, so that find_package(convt3d) (and what the package
# offers) cannot silently break.
# -D BUILD_DIR=... -D SOURCE_DIR=... -D WORK_DIR=... -D GENERATOR=... -D MAKE_PROGRAM=...
# [-D EXAMPLE=consumer] (the folder under examples/) [-D PROGRAM=consumer] (what it builds)
# [-D EXPECT=<regex>] (the program's output, stdout and stderr, must match; it runs with
# CONVT3D_VERBOSE=1)
if (NOT EXAMPLE)
    set(EXAMPLE consumer)
endif ()
if (NOT PROGRAM)
    set(PROGRAM consumer)
endif ()
function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if (NOT rc EQUAL 0)
        message(FATAL_ERROR "failed (${rc}): ${ARGN}")
    endif ()
endfunction()
file(REMOVE_RECURSE "${WORK_DIR}")
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples/${EXAMPLE}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}" "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" -DCMAKE_BUILD_TYPE=Release)
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env CONVT3D_VERBOSE=1 "${WORK_DIR}/build/${PROGRAM}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if (NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${PROGRAM}")
endif ()
if (EXPECT AND NOT out MATCHES "${EXPECT}")
    message(FATAL_ERROR "${PROGRAM}'s output does not match '${EXPECT}'")
endif ()
