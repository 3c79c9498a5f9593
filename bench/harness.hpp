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
// Repetitions and minimum time come from the command line, never from
// here: scripts/bench runs the strategy families (cpu/, sweep/) with
// --benchmark_repetitions and --benchmark_enable_random_interleaving, so
// serial, threads and processes alternate and drift hits them alike, and
// reports each row's median and min-max over the repetitions. (A MinTime or
// Repetitions set here would override the flags, and --quick with them.)
template <class Fn>
benchmark::internal::Benchmark* add(const std::string& name, Fn fn) {
  return benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace weft_bench
