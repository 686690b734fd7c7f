# Runs BENCHMARK on two cases of SUITE and checks that the table has a row for each of them and
# for no other case of the suite; then that an unknown case name is an error that names it.
set(wanted dilated_k3d2 depthwise_k3s2)  # not the suite's last case, nor in its order
list(JOIN wanted "," wanted_arg)
execute_process(COMMAND "${BENCHMARK}" --suite "${SUITE}" --cases "${wanted_arg}" --repeats 1 --rounds 1 --threads 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if (NOT rc EQUAL 0)
    message(FATAL_ERROR "convt3d-benchmark --cases ${wanted_arg} failed (${rc}):\n${out}\n${err}")
endif ()

file(READ "${SUITE}" suite)
string(JSON count LENGTH "${suite}" cases)
math(EXPR last "${count} - 1")
foreach (i RANGE ${last})
    string(JSON name GET "${suite}" cases ${i} name)
    # A table row starts with the case name and then its time.
    string(REGEX MATCH "(^|\n)${name} +[0-9]" row "${out}")
    list(FIND wanted "${name}" index)
    if (index GREATER -1 AND NOT row)
        message(FATAL_ERROR "no row for ${name}, which --cases named:\n${out}")
    elseif (index EQUAL -1 AND row)
        message(FATAL_ERROR "a row for ${name}, which --cases did not name:\n${out}")
    endif ()
endforeach ()

execute_process(COMMAND "${BENCHMARK}" --suite "${SUITE}" --cases tiny_latency,no_such_case --repeats 1 --rounds 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if (rc EQUAL 0 OR NOT "${out}${err}" MATCHES "no case named 'no_such_case'")
    message(FATAL_ERROR "an unknown case name was not refused (${rc}):\n${out}\n${err}")
endif ()
message(STATUS "convt3d-benchmark --cases ran ${wanted_arg} and nothing else, and refused an unknown name")
