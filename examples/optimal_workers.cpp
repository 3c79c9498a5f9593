// How many workers? weft::default_workers follows the usual guidance from
// the cores this process may use (affinity mask and cgroup quota): CPU-bound
// work wants one thread per core, IO-bound work (mostly waiting) many more.
// A small sweep shows it: blocking "IO" jobs finish faster with more threads.
#include <weft/thread_pool.hpp>  // weft::thread_pool, weft::default_workers, weft::workload

#include <chrono>
#include <cstdio>
#include <thread>

int main() {
  using weft::workload;
  std::printf("cpu-bound: %zu workers, io-bound: %zu, mixed: %zu\n", weft::default_workers(workload::cpu),
              weft::default_workers(workload::io), weft::default_workers(workload::mixed));

  // 40 jobs that each wait 5 ms (think: a network call).
  for (std::size_t workers : {std::size_t{1}, weft::default_workers(workload::cpu), weft::default_workers(workload::io)}) {
    weft::thread_pool pool(workers);
    auto start = std::chrono::steady_clock::now();
    pool.parallel_for(0, 40, [](int) { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }, 1);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("io sweep: %2zu workers -> %6.1f ms\n", workers, ms);
  }
}
