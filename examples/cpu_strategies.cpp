// The Python tutorial's CPU-bound comparison: the same function run serially,
// on a thread_pool and on a process_pool, with wall-clock times and speedups.
// Pass a task size to change the work: ./cpu_strategies 10000000
#include <weft/process_pool.hpp>  // weft::process_pool
#include <weft/thread_pool.hpp>   // weft::thread_pool, weft::default_workers

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

// Sum of i*i below n. The volatile step keeps the compiler from replacing the
// loop by its closed form, so this really burns CPU.
std::uint64_t cpu_task(std::uint64_t n) {
  static volatile std::uint64_t step = 1;
  const std::uint64_t s = step;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += s) sum += i * i;
  return sum;
}

// Runs `strategy` once and returns {its results, seconds}.
template <class Strategy>
std::pair<std::vector<std::uint64_t>, double> timed(Strategy strategy) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> results = strategy();
  return {std::move(results), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

int main(int argc, char** argv) {
  const std::uint64_t size = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3'000'000;
  const std::vector<std::uint64_t> tasks(4, size);  // four equal tasks, as in the Python tutorial
  const std::size_t workers = weft::default_workers(weft::workload::cpu);

  auto serial = timed([&] {
    std::vector<std::uint64_t> out;
    for (auto n : tasks) out.push_back(cpu_task(n));
    return out;
  });
  weft::thread_pool threads(workers);  // shares memory; C++ has no GIL, so threads run in parallel
  auto threaded = timed([&] { return threads.map(cpu_task, tasks); });
  weft::process_pool processes(workers);  // separate address spaces; arguments and results are serialized
  auto forked = timed([&] { return processes.map(cpu_task, tasks); });

  std::printf("%zu workers, 4 tasks of %llu iterations\n", workers, static_cast<unsigned long long>(size));
  std::printf("serial:    %7.1f ms\n", serial.second * 1e3);
  std::printf("threads:   %7.1f ms  speedup %.2fx\n", threaded.second * 1e3, serial.second / threaded.second);
  std::printf("processes: %7.1f ms  speedup %.2fx\n", forked.second * 1e3, serial.second / forked.second);
  std::printf("each task: %llu\n", static_cast<unsigned long long>(serial.first.front()));
  // Speedups depend on the machine; the answers must not.
  bool agree = serial.first == threaded.first && serial.first == forked.first;
  std::printf("all three strategies agree: %s\n", agree ? "yes" : "NO");
  return agree ? 0 : 1;
}
