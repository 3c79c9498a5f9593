// thread_pool in one page: submit + future, map, parallel_for, post + wait,
// exceptions, and shutdown — concurrent.futures.ThreadPoolExecutor in C++.
#include <weft/thread_pool.hpp>  // weft::thread_pool, weft::default_workers, weft::shutdown_mode

#include <cstdio>
#include <stdexcept>
#include <vector>

int main() {
  weft::thread_pool pool;  // default_workers(workload::cpu) threads
  std::printf("workers: %zu\n", pool.size());

  // submit: a future per task.
  weft::future<int> answer = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  std::printf("submit: %d\n", answer.get());

  // map: results in input order.
  std::vector<int> inputs{1, 2, 3, 4, 5};
  auto squares = pool.map([](int x) { return x * x; }, inputs);
  std::printf("map: %d %d %d %d %d\n", squares[0], squares[1], squares[2], squares[3], squares[4]);

  // parallel_for: an index loop split across the workers.
  std::vector<long> cells(1000);
  pool.parallel_for(0, 1000, [&](int i) { cells[i] = 2L * i; });
  long total = 0;
  for (long c : cells) total += c;
  std::printf("parallel_for: %ld\n", total);

  // Exceptions travel through the future.
  auto failing = pool.submit([]() -> int { throw std::runtime_error("bad input"); });
  try {
    failing.get();
  } catch (const std::runtime_error& e) {
    std::printf("exception: %s\n", e.what());
  }

  // Recursive tasks may wait on each other: a waiting worker runs other tasks.
  auto nested = pool.submit([&pool] { return pool.submit([] { return 1; }).get() + 1; });
  std::printf("nested: %d\n", nested.get());

  pool.shutdown(weft::shutdown_mode::drain);  // the destructor would do the same
  try {
    (void)pool.submit([] { return 0; });
  } catch (const weft::pool_closed&) {
    std::printf("after shutdown: pool_closed\n");
  }
}
