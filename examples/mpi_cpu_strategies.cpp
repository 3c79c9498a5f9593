// The CPU-bound comparison across MPI ranks: the same function serially on
// rank 0 and spread over the other ranks with weft::mpi_pool — the same API
// as process_pool, but the ranks may be on other machines.
//   mpirun -np 3 ./mpi_cpu_strategies            (this machine)
//   mpirun -np 9 --hostfile hosts ./mpi_cpu_strategies   (several)
#include <weft/mpi_pool.hpp>  // weft::mpi_pool

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

// Sum of i*i below n; the volatile step keeps the loop from being folded.
std::uint64_t cpu_task(std::uint64_t n) {
  static volatile std::uint64_t step = 1;
  const std::uint64_t s = step;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += s) sum += i * i;
  return sum;
}

template <class F>
double seconds(F f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int main(int argc, char** argv) {
  // Every rank constructs the pool; only rank 0 returns from it. The other
  // ranks serve tasks inside and exit when rank 0's pool shuts down.
  weft::mpi_pool pool;

  const std::uint64_t size = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3'000'000;
  const std::vector<std::uint64_t> tasks(4, size);
  std::uint64_t serial_total = 0, mpi_total = 0;
  double serial = seconds([&] {
    for (auto n : tasks) serial_total += cpu_task(n);
  });
  double spread = seconds([&] {
    for (auto r : pool.map(cpu_task, tasks, 1)) mpi_total += r;  // one task per message
  });

  std::printf("%zu worker ranks, 4 tasks of %llu iterations\n", pool.size(), static_cast<unsigned long long>(size));
  std::printf("serial (rank 0): %7.1f ms\n", serial * 1e3);
  std::printf("mpi_pool:        %7.1f ms  speedup %.2fx\n", spread * 1e3, serial / spread);
  std::printf("results agree: %s\n", serial_total == mpi_total ? "yes" : "NO");
  return serial_total == mpi_total ? 0 : 1;
}
