# Builds one compile_fail target and checks its diagnostics: the build must
# fail, the first error line must match REGEX (the message names the fix),
# and there must be at most MAX_ERRORS error lines (one mistake, one error).
#   cmake -DBUILD_DIR=... -DTARGET=... -DREGEX=... -DMAX_ERRORS=n -P check.cmake
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(out "${out}${err}")
string(REPLACE ";" "," out "${out}")  # a CMake list separator
if(status EQUAL 0)
  message(FATAL_ERROR "${TARGET}: compiled, but it must not")
endif()
string(REGEX MATCHALL "[^\n]*error[: ][^\n]*" errors "${out}")
# make/ninja report the failed build itself ("make: *** ... Error 1", "ninja: build stopped"):
# only the compiler's lines count.
list(FILTER errors INCLUDE REGEX "(^|[ :])(fatal )?error: ")
list(LENGTH errors count)
if(count EQUAL 0)
  message(FATAL_ERROR "${TARGET}: the build failed without a compiler error:\n${out}")
endif()
list(GET errors 0 first)
if(NOT first MATCHES "${REGEX}")
  message(FATAL_ERROR "${TARGET}: the first error does not match '${REGEX}':\n${first}\n\nfull output:\n${out}")
endif()
if(count GREATER MAX_ERRORS)
  message(FATAL_ERROR "${TARGET}: ${count} errors, expected at most ${MAX_ERRORS}:\n${errors}")
endif()
message(STATUS "${TARGET}: ${count} error(s), the first one names the fix")
