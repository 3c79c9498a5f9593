// weft — MIT licence. See LICENSE.
// cpu/mpi — the tutorial's CPU-bound job on an mpi_pool; mpi/roundtrip — submit
// + get of a trivial task to another rank. Registered only when weft-bench
// runs under an MPI launcher (scripts/bench does: mpiexec -np <cores + 1>,
// one rank per core plus rank 0, which submits); the worker ranks serve
// inside the pool's constructor and never reach Google Benchmark.
#include <weft/mpi_pool.hpp>

#include "harness.hpp"
#include "workload.hpp"

#include <array>
#include <cstdlib>
#include <numeric>
#include <optional>

namespace weft_bench {
namespace {

std::optional<weft::mpi_pool> pool;  // lives until exit: its destructor releases the worker ranks

int identity(int x) { return x; }
std::uint64_t cpu_job(std::uint64_t n) { return cpu_task(n); }

void bm_roundtrip(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    if (pool->submit(identity, i).get() != i) state.SkipWithError("wrong result");
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_cpu_mpi(benchmark::State& state) {
  std::array<std::uint64_t, cpu_tasks> sizes;
  sizes.fill(cpu_task_size);
  static const std::uint64_t expected = cpu_tasks * cpu_task(cpu_task_size);
  for (auto _ : state) {
    auto sums = pool->map(cpu_job, sizes, 1);
    if (std::accumulate(sums.begin(), sums.end(), std::uint64_t{0}) != expected) state.SkipWithError("wrong sum");
  }
  state.SetItemsProcessed(state.iterations() * cpu_tasks);
  state.counters["workers"] = static_cast<double>(pool->size());
}

// Open MPI, MPICH/Hydra and PMIx launchers all export one of these.
bool started_by_mpi_launcher() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

}  // namespace

void register_mpi() {
  if (!started_by_mpi_launcher()) return;
  pool.emplace();  // ranks 1.. serve here until rank 0 exits
  add("cpu/mpi", bm_cpu_mpi);
  add("mpi/roundtrip", bm_roundtrip)->Unit(benchmark::kMicrosecond);
}

}  // namespace weft_bench
