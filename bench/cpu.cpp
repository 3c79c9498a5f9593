// weft — MIT licence. See LICENSE.
// cpu/<strategy> — the tutorial's CPU-bound job (4 tasks, each summing i*i for
// i < 10'000'000) run serially, on a thread_pool and with std::async;
// items_per_second counts tasks. Workers = default_workers(cpu).
#include <weft/thread_pool.hpp>

#include "harness.hpp"
#include "workload.hpp"

#include <array>
#include <future>

namespace weft_bench {
namespace {

void check(benchmark::State& state, std::uint64_t total) {
  static const std::uint64_t expected = cpu_tasks * cpu_task(cpu_task_size);
  if (total != expected) state.SkipWithError("wrong sum");
}

void bm_serial(benchmark::State& state) {
  for (auto _ : state) {
    std::uint64_t total = 0;
    for (int t = 0; t < cpu_tasks; ++t) total += cpu_task(cpu_task_size);
    check(state, total);
  }
  state.SetItemsProcessed(state.iterations() * cpu_tasks);
}

void bm_threads(benchmark::State& state) {
  weft::thread_pool pool(weft::default_workers(weft::workload::cpu));
  std::array<std::uint64_t, cpu_tasks> sizes;
  sizes.fill(cpu_task_size);
  for (auto _ : state) {
    auto sums = pool.map([](std::uint64_t n) { return cpu_task(n); }, sizes, 1);
    std::uint64_t total = 0;
    for (auto s : sums) total += s;
    check(state, total);
  }
  state.SetItemsProcessed(state.iterations() * cpu_tasks);
  state.counters["workers"] = static_cast<double>(pool.size());
}

void bm_std_async(benchmark::State& state) {
  for (auto _ : state) {
    std::array<std::future<std::uint64_t>, cpu_tasks> parts;
    for (auto& p : parts) p = std::async(std::launch::async, cpu_task, cpu_task_size);
    std::uint64_t total = 0;
    for (auto& p : parts) total += p.get();
    check(state, total);
  }
  state.SetItemsProcessed(state.iterations() * cpu_tasks);
}

}  // namespace

void register_cpu() {
  add("cpu/serial", bm_serial);
  add("cpu/threads", bm_threads);
  add("cpu/std_async", bm_std_async);
}

}  // namespace weft_bench
