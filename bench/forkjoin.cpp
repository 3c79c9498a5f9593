// weft — MIT licence. See LICENSE.
// forkjoin/<impl>/{fib,skynet,nqueens} — recursive fork-join with no
// sequential cutoff (the runtime-benchmarks workloads): every call spawns
// its children as tasks and waits for them, so the cost per task (spawn,
// steal, wait, allocate) is all that is measured. items_per_second counts
// tasks. Pools have default_workers(cpu) threads, built outside the loop.
//   fib(n)        one task per call of the naive Fibonacci recursion
//   skynet(1M)    a 10-ary tree of 1'000'000 leaves, summing leaf numbers
//   nqueens(n)    every legal prefix of an n-queens board is a task
#include <weft/thread_pool.hpp>

#include "harness.hpp"

#include <array>
#include <cstdint>
#include <vector>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <tbb/global_control.h>
#include <tbb/task_group.h>
#endif

namespace weft_bench {
namespace {

constexpr int fib_n = 25;
constexpr std::int64_t skynet_leaves = 1'000'000;
constexpr int nqueens_n = 9;

std::size_t workers() { return weft::default_workers(weft::workload::cpu); }

// Tasks a fib(n) run spawns (one per call but the root).
std::int64_t fib_calls(int n) {
  std::int64_t a = 1, b = 1;  // calls(0) = calls(1) = 1; calls(n) = calls(n-1) + calls(n-2) + 1
  for (int i = 2; i <= n; ++i) {
    std::int64_t c = a + b + 1;
    a = b;
    b = c;
  }
  return n < 2 ? 1 : b;
}

using board = std::array<std::int8_t, 16>;
bool safe(const board& b, int row, int col) {
  for (int r = 0; r < row; ++r) {
    int c = b[static_cast<std::size_t>(r)];
    if (c == col || c - col == r - row || c - col == row - r) return false;
  }
  return true;
}

// ---- weft ----
std::int64_t weft_fib(weft::thread_pool& pool, int n) {
  if (n < 2) return n;
  auto left = pool.submit([&pool, n] { return weft_fib(pool, n - 1); });
  std::int64_t right = weft_fib(pool, n - 2);
  return left.get() + right;
}

std::int64_t weft_skynet(weft::thread_pool& pool, std::int64_t first, std::int64_t size) {
  if (size == 1) return first;
  std::array<weft::future<std::int64_t>, 10> parts;
  const std::int64_t step = size / 10;
  for (int i = 0; i < 10; ++i)
    parts[static_cast<std::size_t>(i)] =
        pool.submit([&pool, first, step, i] { return weft_skynet(pool, first + i * step, step); });
  std::int64_t sum = 0;
  for (auto& p : parts) sum += p.get();
  return sum;
}

std::int64_t weft_nqueens(weft::thread_pool& pool, board b, int row) {
  if (row == nqueens_n) return 1;
  std::array<weft::future<std::int64_t>, nqueens_n> parts;
  int spawned = 0;
  for (int col = 0; col < nqueens_n; ++col) {
    if (!safe(b, row, col)) continue;
    board next = b;
    next[static_cast<std::size_t>(row)] = static_cast<std::int8_t>(col);
    parts[static_cast<std::size_t>(spawned++)] =
        pool.submit([&pool, next, row] { return weft_nqueens(pool, next, row + 1); });
  }
  std::int64_t sum = 0;
  for (int i = 0; i < spawned; ++i) sum += parts[static_cast<std::size_t>(i)].get();
  return sum;
}

template <class Run>
void weft_case(benchmark::State& state, std::int64_t expected, std::int64_t tasks, Run run) {
  weft::thread_pool pool(workers());
  std::int64_t result = 0;
  for (auto _ : state) result = pool.submit([&] { return run(pool); }).get();
  if (result != expected) state.SkipWithError("wrong result");
  state.SetItemsProcessed(state.iterations() * tasks);
}

// ---- oneTBB task_group ----
#if defined(WEFT_BENCH_HAVE_TBB)
std::int64_t tbb_fib(int n) {
  if (n < 2) return n;
  std::int64_t left = 0;
  tbb::task_group g;
  g.run([&left, n] { left = tbb_fib(n - 1); });
  std::int64_t right = tbb_fib(n - 2);
  g.wait();
  return left + right;
}

std::int64_t tbb_skynet(std::int64_t first, std::int64_t size) {
  if (size == 1) return first;
  std::array<std::int64_t, 10> parts{};
  const std::int64_t step = size / 10;
  tbb::task_group g;
  for (int i = 0; i < 10; ++i)
    g.run([&parts, first, step, i] { parts[static_cast<std::size_t>(i)] = tbb_skynet(first + i * step, step); });
  g.wait();
  std::int64_t sum = 0;
  for (auto p : parts) sum += p;
  return sum;
}

std::int64_t tbb_nqueens(board b, int row) {
  if (row == nqueens_n) return 1;
  std::array<std::int64_t, nqueens_n> parts{};
  tbb::task_group g;
  for (int col = 0; col < nqueens_n; ++col) {
    if (!safe(b, row, col)) continue;
    board next = b;
    next[static_cast<std::size_t>(row)] = static_cast<std::int8_t>(col);
    g.run([&parts, next, row, col] { parts[static_cast<std::size_t>(col)] = tbb_nqueens(next, row + 1); });
  }
  g.wait();
  std::int64_t sum = 0;
  for (auto p : parts) sum += p;
  return sum;
}

template <class Run>
void tbb_case(benchmark::State& state, std::int64_t expected, std::int64_t tasks, Run run) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, workers());
  std::int64_t result = 0;
  for (auto _ : state) result = run();
  if (result != expected) state.SkipWithError("wrong result");
  state.SetItemsProcessed(state.iterations() * tasks);
}
#endif

// Tasks of nqueens(n): every safe prefix (computed serially, once).
std::int64_t nqueens_tasks(board b, int row) {
  if (row == nqueens_n) return 0;
  std::int64_t tasks = 0;
  for (int col = 0; col < nqueens_n; ++col) {
    if (!safe(b, row, col)) continue;
    board next = b;
    next[static_cast<std::size_t>(row)] = static_cast<std::int8_t>(col);
    tasks += 1 + nqueens_tasks(next, row + 1);
  }
  return tasks;
}

constexpr std::int64_t fib_value = 75025;                                   // fib(25)
constexpr std::int64_t skynet_value = skynet_leaves * (skynet_leaves - 1) / 2;
constexpr std::int64_t nqueens_value = 352;                                 // solutions of 9 queens
const std::int64_t skynet_tasks = 1'111'110;                                // nodes below the root

}  // namespace

void register_forkjoin() {
  static_assert(fib_n == 25 && nqueens_n == 9, "update the expected values with the sizes");
  add("forkjoin/weft/fib", [](benchmark::State& s) {
    weft_case(s, fib_value, fib_calls(fib_n), [](weft::thread_pool& p) { return weft_fib(p, fib_n); });
  });
  add("forkjoin/weft/skynet", [](benchmark::State& s) {
    weft_case(s, skynet_value, skynet_tasks,
              [](weft::thread_pool& p) { return weft_skynet(p, 0, skynet_leaves); });
  });
  add("forkjoin/weft/nqueens", [](benchmark::State& s) {
    weft_case(s, nqueens_value, nqueens_tasks(board{}, 0),
              [](weft::thread_pool& p) { return weft_nqueens(p, board{}, 0); });
  });
#if defined(WEFT_BENCH_HAVE_TBB)
  add("forkjoin/tbb_task_group/fib", [](benchmark::State& s) {
    tbb_case(s, fib_value, fib_calls(fib_n), [] { return tbb_fib(fib_n); });
  });
  add("forkjoin/tbb_task_group/skynet", [](benchmark::State& s) {
    tbb_case(s, skynet_value, skynet_tasks, [] { return tbb_skynet(0, skynet_leaves); });
  });
  add("forkjoin/tbb_task_group/nqueens", [](benchmark::State& s) {
    tbb_case(s, nqueens_value, nqueens_tasks(board{}, 0), [] { return tbb_nqueens(board{}, 0); });
  });
#endif
}

}  // namespace weft_bench
