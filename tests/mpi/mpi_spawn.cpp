// weft — MIT licence. See LICENSE.
// mpi_pool started as a plain program (an MPI singleton, no mpirun): it
// spawns its worker ranks with MPI_Comm_spawn, as mpi4py's
// MPIPoolExecutor does. The spawned copies run main() too and serve inside
// the constructor.
#include <weft/mpi_pool.hpp>

#include <cstdio>
#include <numeric>
#include <vector>

int twice(int x) { return 2 * x; }

int main() {
  weft::mpi_pool pool(weft::mpi_pool_options{.workers = 2});
  std::vector<int> inputs(1000);
  std::iota(inputs.begin(), inputs.end(), 0);
  std::vector<int> outputs = pool.map(twice, inputs);
  bool ok = outputs.size() == inputs.size();
  for (std::size_t i = 0; ok && i < inputs.size(); ++i) ok = outputs[i] == 2 * inputs[i];
  ok = ok && pool.submit(twice, 21).get() == 42;
  std::printf("spawned %zu workers: %s\n", pool.size(), ok ? "ok" : "WRONG");
  std::fflush(stdout);
  pool.shutdown();
  return ok ? 0 : 1;
}
