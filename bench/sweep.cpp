// weft — MIT licence. See LICENSE.
// Worker-count sweeps for the strategy comparison (scripts/bench):
//   sweep/cpu/<threads|processes>/<workers> — 16 CPU-bound tasks (the tutorial's
//     workload split finer: 16 x 2.5M iterations = 4 x 10M) on W workers;
//   sweep/io/<threads|processes>/<workers> — 64 jobs that each block 1 ms
//     (a stand-in for a network or disk wait) on W workers.
// items_per_second counts tasks. Workers: 1..2x cores for cpu, 1..10x for io.
#include <weft/process_pool.hpp>
#include <weft/thread_pool.hpp>

#include "harness.hpp"
#include "workload.hpp"

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace weft_bench {
namespace {

constexpr int cpu_sweep_tasks = 16;
constexpr std::uint64_t cpu_sweep_size = cpu_task_size * cpu_tasks / cpu_sweep_tasks;
constexpr int io_sweep_jobs = 64;

std::uint64_t cpu_piece(std::uint64_t n) { return cpu_task(n); }
int io_job(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x;
}

template <class Pool>
void run_sweep(benchmark::State& state, std::size_t workers, bool cpu) {
  Pool pool(workers);
  std::vector<std::uint64_t> cpu_items(cpu_sweep_tasks, cpu_sweep_size);
  std::vector<int> io_items(io_sweep_jobs, 1);
  for (auto _ : state) {
    if (cpu) {
      auto r = pool.map(cpu_piece, cpu_items, 1);
      benchmark::DoNotOptimize(r);
    } else {
      auto r = pool.map(io_job, io_items, 1);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations() * (cpu ? cpu_sweep_tasks : io_sweep_jobs));
  state.counters["workers"] = static_cast<double>(workers);
}

// 1, 2, 4, ... up to `limit`, plus `limit` itself and the core count.
std::vector<std::size_t> worker_counts(std::size_t limit) {
  std::set<std::size_t> counts{limit, weft::default_workers(weft::workload::cpu)};
  for (std::size_t w = 1; w <= limit; w *= 2) counts.insert(w);
  return {counts.begin(), counts.end()};
}

}  // namespace

void register_sweep() {
  const std::size_t cores = weft::default_workers(weft::workload::cpu);
  for (bool cpu : {true, false}) {
    for (std::size_t w : worker_counts(cpu ? 2 * cores : 10 * cores)) {
      std::string kind = cpu ? "cpu" : "io";
      add("sweep/" + kind + "/threads/" + std::to_string(w),
          [w, cpu](benchmark::State& s) { run_sweep<weft::thread_pool>(s, w, cpu); });
#if defined(__unix__) || defined(__APPLE__)
      add("sweep/" + kind + "/processes/" + std::to_string(w),
          [w, cpu](benchmark::State& s) { run_sweep<weft::process_pool>(s, w, cpu); });
#endif
    }
  }
}

}  // namespace weft_bench
