// The tutorial's "mixed: processes + asyncio": CPU work goes to a
// process_pool (loop.run_in_executor(ProcessPoolExecutor)) and is awaited
// with co_await, while the same event loop keeps serving a 10 ms ticker.
// co_await on a process_pool future suspends the coroutine; the loop's
// thread stays free, and the coroutine resumes on it when the worker's
// answer arrives. Twin: bench/python/async_mixed.py.
#include <weft/process_pool.hpp>  // weft::process_pool
#include <weft/task.hpp>          // weft::task, weft::run, weft::spawn, weft::gather, weft::sleep_for

#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

// CPU-bound: primes below n by trial division. Runs in a worker process,
// so it is a plain function (its address is valid in the forked workers)
// and its argument and result cross the process boundary by value.
long count_primes(long n) {
  long count = 0;
  for (long k = 2; k < n; ++k) {
    bool prime = true;
    for (long d = 2; d * d <= k; ++d)
      if (k % d == 0) {
        prime = false;
        break;
      }
    count += prime;
  }
  return count;
}

struct ticker_state {
  bool stop = false;  // loop thread only
  int ticks = 0;
  std::chrono::steady_clock::duration longest_gap{};
};

// Serves a timer every 10 ms until told to stop, and notes the longest gap
// between two ticks: it stays near 10 ms only if the loop is never blocked.
weft::task<void> ticker(ticker_state* s) {
  auto last = std::chrono::steady_clock::now();
  while (!s->stop) {
    co_await weft::sleep_for(10ms);
    auto now = std::chrono::steady_clock::now();
    if (now - last > s->longest_gap) s->longest_gap = now - last;
    last = now;
    ++s->ticks;
  }
}

weft::task<int> main_task(weft::process_pool* pool) {
  ticker_state s;
  weft::future<void> tick = weft::spawn(ticker(&s));

  const std::vector<long> limits{50000, 100000, 150000, 200000};
  std::vector<weft::future<long>> work;
  for (long n : limits) work.push_back(pool->submit(&count_primes, n));  // runs in the workers now
  std::vector<long> counts = co_await weft::gather(std::move(work));  // the loop ticks meanwhile

  s.stop = true;
  co_await tick;  // the ticker ends after its current sleep
  for (std::size_t i = 0; i < limits.size(); ++i) std::printf("primes below %ld: %ld\n", limits[i], counts[i]);
  const long gap_ms = std::chrono::duration_cast<std::chrono::milliseconds>(s.longest_gap).count();
  std::printf("ticks: %d, longest gap %ld ms\n", s.ticks, gap_ms);
  std::printf("the loop kept ticking while the processes worked: %s\n", s.ticks > 0 && gap_ms < 500 ? "yes" : "no");
  co_return 0;
}

int main() {
  weft::process_pool pool(2);  // built first: workers are forks of the program as it is now
  return weft::run(main_task(&pool));
}
