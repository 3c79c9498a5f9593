// weft — MIT licence. See LICENSE.
// Shared helpers for weft-bench: run a body on N threads released together.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

namespace weft_bench {

// Starts `threads` threads, releases them at once, runs body(index) on each
// and joins. Real time of the whole call is what the benchmark measures.
template <class Body>
void run_parallel(int threads, Body body) {
  std::latch start(threads + 1);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      start.arrive_and_wait();
      body(i);
    });
  start.arrive_and_wait();
  for (auto& t : pool) t.join();
}

// Registers the benchmark under `name` (families are named as DESIGN.md).
// The strategy families (cpu/, sweep/) run five times and report the
// median: on a small shared machine one run can be off by 2x.
template <class Fn>
benchmark::internal::Benchmark* add(const std::string& name, Fn fn) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  if (name.rfind("cpu/", 0) == 0 || name.rfind("sweep/", 0) == 0)
    b->Repetitions(5)->ReportAggregatesOnly(true)->MinTime(0.2);
  return b;
}

}  // namespace weft_bench
