// weft — MIT licence. See LICENSE.
// The tutorial's CPU-bound workload, shared by every cpu/* strategy: sum i*i for
// i < n. The step is read through a volatile so the compiler cannot replace
// the loop by its closed form.
#pragma once

#include <cstdint>

namespace weft_bench {

inline constexpr int cpu_tasks = 4;
inline constexpr std::uint64_t cpu_task_size = 10'000'000;

// One copy of the loop for every strategy (serial, threads, processes, MPI
// ranks): never inlined, and for GCC never cloned either. GCC made a clone
// specialized for the constant n of the serial call site; its loop ran 2x
// slower than the shared copy (22 vs 11 ms for the serial job, measured),
// which made every parallel strategy look 2x better than it is.
#if defined(__GNUC__) && !defined(__clang__)
#define WEFT_BENCH_ONE_COPY gnu::noipa
#else
#define WEFT_BENCH_ONE_COPY gnu::noinline
#endif

[[WEFT_BENCH_ONE_COPY]] inline std::uint64_t cpu_task(std::uint64_t n) {
  static volatile std::uint64_t step = 1;
  const std::uint64_t s = step;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += s) sum += i * i;
  return sum;
}

}  // namespace weft_bench
