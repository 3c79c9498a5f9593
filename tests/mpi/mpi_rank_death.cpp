// weft — MIT licence. See LICENSE.
// A worker rank dies mid-task: killed by SIGKILL, or (argument "exit") by a
// task calling exit(3). MPI without ULFM cannot survive that; the job must
// end with a message naming the rank, not hang. Run by
// tests/mpi/expect_job_ends.cmake, which checks exactly that.
#include <weft/mpi_pool.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int die(int) {
  std::raise(SIGKILL);
  return 0;
}

int leave(int) { std::exit(3); }

int main(int argc, char** argv) {
  weft::mpi_pool pool;
  const bool by_exit = argc > 1 && std::strcmp(argv[1], "exit") == 0;
  std::printf("rank 0: submitting a task that %s its worker\n", by_exit ? "exits" : "kills");
  std::fflush(stdout);
  pool.submit(by_exit ? leave : die, 1).get();  // never returns: mpirun ends the job
  std::printf("rank 0: the job went on after a rank died\n");
  return 0;
}
