# Runs an MPI job in which a rank dies and checks that the job ends (no
# hang) with a non-zero status and mpirun's report. Variables: COMMAND (a
# ;-list), TIMEOUT_SECONDS.
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                TIMEOUT ${TIMEOUT_SECONDS})
message("${out}")
if(rc MATCHES "timeout|Process terminated due to timeout")
  message(FATAL_ERROR "the job hung after a rank died")
endif()
if(rc EQUAL 0 OR out MATCHES "the job went on")
  message(FATAL_ERROR "the job did not end with an error after a rank died (status ${rc})")
endif()
if(NOT out MATCHES "signal 9|Killed|exited on signal|non-zero exit code|exiting improperly")
  message(FATAL_ERROR "no report naming the dead rank")
endif()
message("job ended with status ${rc}, as expected")
