// The Python tutorial's Pool.map(cpu_task, range(10)) in C++: a CPU-bound function
// mapped over a range in worker processes, results in input order; then the
// same pool used like ProcessPoolExecutor with as_completed.
#include <weft/future.hpp>        // weft::as_completed
#include <weft/process_pool.hpp>  // weft::process_pool

#include <cstdint>
#include <cstdio>
#include <unistd.h>
#include <vector>

// A CPU-bound task: sum of i*i below n (the volatile step keeps the compiler
// from replacing the loop by a formula).
std::uint64_t cpu_task(std::uint64_t n) {
  static volatile std::uint64_t step = 1;
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += step) sum += i * i;
  return sum;
}

int main() {
  weft::process_pool pool;  // default_workers(workload::cpu) processes

  std::vector<std::uint64_t> inputs;
  for (std::uint64_t k = 0; k < 10; ++k) inputs.push_back(k * 100000);
  auto results = pool.map(cpu_task, inputs, 2);  // chunks of two per message
  std::printf("map: %zu results, first %llu, last %llu\n", results.size(),
              static_cast<unsigned long long>(results.front()), static_cast<unsigned long long>(results.back()));

  // Trivially copyable lambdas run in the workers too; as_completed hands
  // results back as they finish (imap_unordered).
  std::vector<weft::future<int>> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(pool.submit([] { return static_cast<int>(::getpid()); }));
  int from_workers = 0;
  for (auto& f : weft::as_completed(pids)) from_workers += f.get() != static_cast<int>(::getpid());
  std::printf("as_completed: %d of 4 ran in worker processes\n", from_workers);
}
