// Two process pitfalls from the Python tutorial, shown and fixed.
//  1. Globals are not shared with worker processes: each worker changes its
//     own copy, the parent never sees it. Return values, or shared_value.
//  2. Passing a big vector to every task copies (serializes) it each time;
//     a shared_array created before the pool is mapped, not copied.
#include <weft/process_pool.hpp>   // weft::process_pool
#include <weft/shared_memory.hpp>  // weft::shared_array, weft::shared_value

#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

namespace {
int global_hits = 0;  // every process has its own copy after fork()

void bump_global() { ++global_hits; }  // changes the worker's copy only
int bump_and_return() { return 1; }     // fix 1: send the result back

double sum_by_value(std::vector<double> data) { return std::accumulate(data.begin(), data.end(), 0.0); }

weft::shared_array<double>* shared_data = nullptr;  // mapped before the pool forks
weft::shared_value<int>* shared_hits_ptr = nullptr;  // likewise
double sum_shared() { return std::accumulate(shared_data->begin(), shared_data->end(), 0.0); }

template <class F>
double seconds(F f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

int main() {
  constexpr int tasks = 8;
  constexpr std::size_t n = 1 << 20;  // 8 MB of doubles
  std::vector<double> data(n, 1.0);
  weft::shared_array<double> shared(n, 1.0);
  shared_data = &shared;
  weft::shared_value<int> shared_hits(0);
  shared_hits_ptr = &shared_hits;  // fix 2: shared memory, reached through a global set before the pool

  weft::process_pool pool(2);
  std::vector<weft::future<void>> wrong;
  std::vector<weft::future<int>> returned;
  std::vector<weft::future<void>> shared_bumps;
  for (int i = 0; i < tasks; ++i) {
    wrong.push_back(pool.submit(bump_global));
    returned.push_back(pool.submit(bump_and_return));
    shared_bumps.push_back(pool.submit(+[] { shared_hits_ptr->fetch_add(1); }));
  }
  int total_returned = 0;
  for (auto& f : wrong) f.get();
  for (auto& f : returned) total_returned += f.get();
  for (auto& f : shared_bumps) f.get();
  std::printf("pitfall 1: global after %d increments in workers: %d (the workers changed their own copies)\n",
              tasks, global_hits);
  std::printf("   fixed: returned values sum to %d; shared_value counts %d\n", total_returned, shared_hits.load());

  double by_value_sum = 0, shared_sum = 0;
  double by_value = seconds([&] {
    for (int i = 0; i < tasks; ++i) by_value_sum += pool.submit(sum_by_value, data).get();
  });
  double mapped = seconds([&] {
    for (int i = 0; i < tasks; ++i) shared_sum += pool.submit(sum_shared).get();
  });
  std::printf("pitfall 2: %d sums of 8 MB: by value %.1f ms, shared_array %.1f ms (%.0fx); same answer: %s\n", tasks,
              by_value * 1e3, mapped * 1e3, by_value / mapped, by_value_sum == shared_sum ? "yes" : "NO");
}
