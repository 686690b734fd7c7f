# Runs BENCHMARK --scaling on one case of SUITE, forward and backward, and checks that each row
# has both times, a speed-up and identical results; then that --scaling refuses CUDA.
foreach (pass IN ITEMS forward backward)
    execute_process(COMMAND "${BENCHMARK}" --suite "${SUITE}" --cases tiny_latency --scaling --pass ${pass}
                            --repeats 1 --rounds 1 --threads 2
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if (NOT rc EQUAL 0)
        message(FATAL_ERROR "convt3d-benchmark --scaling --pass ${pass} failed (${rc}):\n${out}\n${err}")
    endif ()
    set(rows tiny_latency)
    if (pass STREQUAL "backward")
        set(rows tiny_latency/grad_input tiny_latency/grad_weight)
    endif ()
    foreach (row IN LISTS rows)
        if (NOT out MATCHES "(^|\n)${row} +[0-9.]+ +[0-9.]+ +[0-9.]+x +[0-9.]+x +yes ")
            message(FATAL_ERROR "no complete row for ${row} in --scaling --pass ${pass}:\n${out}")
        endif ()
    endforeach ()
endforeach ()

execute_process(COMMAND "${BENCHMARK}" --suite "${SUITE}" --cases tiny_latency --scaling --device cuda
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if (rc EQUAL 0 OR NOT "${out}${err}" MATCHES "CPU only")
    message(FATAL_ERROR "--scaling --device cuda was not refused (${rc}):\n${out}\n${err}")
endif ()
message(STATUS "convt3d-benchmark --scaling printed complete rows, forward and backward, and refused CUDA")
