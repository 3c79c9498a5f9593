// weft — MIT licence. See LICENSE.
// The seed's CPU-bound workload, shared by every cpu/* strategy: sum i*i for
// i < n. The step is read through a volatile so the compiler cannot replace
// the loop by its closed form.
#pragma once

#include <cstdint>

namespace weft_bench {

inline constexpr int cpu_tasks = 4;
inline constexpr std::uint64_t cpu_task_size = 10'000'000;

// Never inlined: every strategy (serial, threads, processes, MPI ranks) runs
// this one copy of the loop. Inlined copies were laid out differently per
// call site, and the same loop then ran 2x slower in one of them (measured:
// cpu/serial 11 ms in one build, 23-27 ms in another with the same flags).
[[gnu::noinline]] inline std::uint64_t cpu_task(std::uint64_t n) {
  static volatile std::uint64_t step = 1;
  const std::uint64_t s = step;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += s) sum += i * i;
  return sum;
}

}  // namespace weft_bench
