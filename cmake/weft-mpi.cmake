# Optional MPI support for weft's own tests, benchmarks and examples
# (consumers of mpi_pool link MPI::MPI_CXX themselves). Sets WEFT_HAVE_MPI
# and weft_mpiexec(<out-var> <ranks>), the launcher command for ctest.
find_package(MPI COMPONENTS CXX QUIET)
set(WEFT_HAVE_MPI OFF)
if(MPI_CXX_FOUND AND MPIEXEC_EXECUTABLE AND CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(WEFT_HAVE_MPI ON)
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE weft_mpiexec_version ERROR_QUIET)
  set(WEFT_MPIEXEC_IS_OPEN_MPI OFF)
  if(weft_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(WEFT_MPIEXEC_IS_OPEN_MPI ON)
  endif()
  message(STATUS "weft: MPI found (${MPIEXEC_EXECUTABLE}); building mpi_pool tests, benchmarks and example")
else()
  message(STATUS "weft: MPI not found; mpi_pool's tests, benchmarks and example are skipped")
endif()

# Environment for launching jobs from ctest: Open MPI refuses to run as root
# (CI containers) without these, and more ranks than cores need
# --oversubscribe. Copy-free shared memory (CMA) needs ptrace rights that
# containers often deny, so tests use plain shared-memory copies. The tests
# run on one host, so only the self and shared-memory transports load (Open
# MPI's TCP transport takes its own locks in an order ThreadSanitizer flags,
# inside Open MPI, during MPI_Init). Under
# AddressSanitizer, tests/mpi/lsan.supp names Open MPI's own leaks (full
# stacks, so that weft's leaks are still reported).
set(WEFT_MPI_TEST_ENVIRONMENT
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
    "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/mpi/lsan.supp:fast_unwind_on_malloc=0")

function(weft_mpiexec out ranks)
  set(cmd ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks})
  if(WEFT_MPIEXEC_IS_OPEN_MPI)
    list(APPEND cmd --oversubscribe)
  endif()
  set(${out} ${cmd} ${MPIEXEC_PREFLAGS} PARENT_SCOPE)
endfunction()
