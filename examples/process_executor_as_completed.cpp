// ProcessPoolExecutor + as_completed in C++: submit tasks of different sizes
// to worker processes and handle each result as soon as it is ready, not in
// submission order. A task that throws arrives as weft::remote_error.
#include <weft/future.hpp>        // weft::as_completed
#include <weft/process_pool.hpp>  // weft::process_pool, weft::remote_error

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <vector>

// Counts primes below n by trial division: bigger n, longer task.
int count_primes(int n) {
  if (n < 0) throw std::invalid_argument("negative limit");
  int count = 0;
  for (int k = 2; k < n; ++k) {
    bool prime = true;
    for (int d = 2; d * d <= k && prime; ++d) prime = k % d != 0;
    count += prime;
  }
  return count;
}

int main() {
  weft::process_pool pool(2);
  const std::vector<int> limits = {200000, 1000, 50000, -1, 10, 100000, 5000, 20};

  std::vector<weft::future<int>> futures;
  for (int n : limits) futures.push_back(pool.submit(count_primes, n));

  int handled = 0, failed = 0;
  auto completed = weft::as_completed(futures);
  for (auto it = completed.begin(); it != completed.end(); ++it) {
    auto& f = *it;                 // the next future to finish
    int limit = limits[it.index()];  // index() says which submission it was
    try {
      std::printf("primes below %6d: %d\n", limit, f.get());
    } catch (const weft::remote_error& e) {  // what() and type_name() of the worker's exception
      std::printf("primes below %6d: failed with %s: %s\n", limit, e.type_name().c_str(), e.what());
      ++failed;
    }
    ++handled;
  }
  std::printf("handled %d of %zu results as they completed, %d failed\n", handled, limits.size(), failed);
}
