// weft — MIT licence. See LICENSE.
// pool/<impl>/submit_get — submit 4096 tiny tasks, then get every result;
// pool/<impl>/post_wait — post 4096 tiny fire-and-forget tasks, then wait for
// all; pool/<impl>/parallel_for — fill 10M ints with the default grain.
// items_per_second counts tasks (items for parallel_for). Pools have default_workers(cpu)
// threads and are built once per benchmark, outside the timed loop.
#include <weft/thread_pool.hpp>

#include "harness.hpp"

#include <atomic>
#include <future>
#include <latch>
#include <memory>
#include <vector>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_group.h>
#endif
#if defined(WEFT_BENCH_HAVE_BOOST)
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#endif

namespace weft_bench {
namespace {

constexpr int tasks_per_run = 4096;

std::size_t workers() { return weft::default_workers(weft::workload::cpu); }

void finish(benchmark::State& state, std::int64_t sum) {
  if (sum != std::int64_t{tasks_per_run} * (tasks_per_run - 1) / 2) state.SkipWithError("lost tasks");
  state.SetItemsProcessed(state.iterations() * tasks_per_run);
}

void weft_submit_get(benchmark::State& state) {
  weft::thread_pool pool(workers());
  std::vector<weft::future<int>> futures(tasks_per_run);
  std::int64_t sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < tasks_per_run; ++i) futures[i] = pool.submit([i] { return i; });
    sum = 0;
    for (auto& f : futures) sum += f.get();
  }
  finish(state, sum);
}

void weft_post_wait(benchmark::State& state) {
  weft::thread_pool pool(workers());
  std::atomic<std::int64_t> sum{0};
  for (auto _ : state) {
    sum = 0;
    for (int i = 0; i < tasks_per_run; ++i) pool.post([&sum, i] { sum.fetch_add(i, std::memory_order_relaxed); });
    pool.wait();
  }
  finish(state, sum.load());
}

// pool/weft/map and pool/weft/imap: f(x) = x * x over 2^20 ints in chunks
// of 4096, the eager map over a vector against the lazy, bounded imap over
// the same vector (the streaming form's overhead).
constexpr int map_items = 1 << 20;
constexpr std::size_t map_chunk = 4096;

std::vector<int> map_input() {
  std::vector<int> input(map_items);
  for (int i = 0; i < map_items; ++i) input[static_cast<std::size_t>(i)] = i & 1023;
  return input;
}

void weft_map(benchmark::State& state) {
  weft::thread_pool pool(workers());
  const std::vector<int> input = map_input();
  std::int64_t sum = 0;
  for (auto _ : state) {
    sum = 0;
    for (int v : pool.map([](int x) { return x * x; }, input, map_chunk)) sum += v;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * map_items);
}

void weft_imap(benchmark::State& state) {
  weft::thread_pool pool(workers());
  const std::vector<int> input = map_input();
  std::int64_t sum = 0;
  for (auto _ : state) {
    sum = 0;
    for (int v : pool.imap([](int x) { return x * x; }, input, weft::map_options{.chunksize = map_chunk})) sum += v;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * map_items);
}

// pool/<impl>/parallel_for: data[i] = 3i + 1 over 10M ints with each
// library's default partitioning (Taskflow's parallel_for workload).
constexpr std::size_t for_items = 10'000'000;

void check_filled(benchmark::State& state, const std::vector<int>& data) {
  if (data[for_items - 1] != static_cast<int>(3 * (for_items - 1) + 1)) state.SkipWithError("parallel_for skipped items");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(for_items));
}

void weft_parallel_for(benchmark::State& state) {
  weft::thread_pool pool(workers());
  std::vector<int> data(for_items);
  for (auto _ : state) {
    pool.parallel_for(std::size_t{0}, for_items, [&data](std::size_t i) { data[i] = static_cast<int>(3 * i + 1); });
    benchmark::DoNotOptimize(data.data());
  }
  check_filled(state, data);
}

void std_async_submit_get(benchmark::State& state) {
  std::vector<std::future<int>> futures(tasks_per_run);
  std::int64_t sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < tasks_per_run; ++i) futures[i] = std::async(std::launch::async, [i] { return i; });
    sum = 0;
    for (auto& f : futures) sum += f.get();
  }
  finish(state, sum);
}

void std_async_post_wait(benchmark::State& state) {
  std::atomic<std::int64_t> sum{0};
  for (auto _ : state) {
    sum = 0;
    std::vector<std::future<void>> futures;
    futures.reserve(tasks_per_run);
    for (int i = 0; i < tasks_per_run; ++i)
      futures.push_back(std::async(std::launch::async, [&sum, i] { sum.fetch_add(i, std::memory_order_relaxed); }));
    for (auto& f : futures) f.wait();
  }
  finish(state, sum.load());
}

#if defined(WEFT_BENCH_HAVE_TBB)
// task_group has no futures: results go to a slot per task, read after wait().
void tbb_submit_get(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, workers());
  tbb::task_group group;
  std::vector<int> results(tasks_per_run);
  std::int64_t sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < tasks_per_run; ++i) group.run([&results, i] { results[i] = i; });
    group.wait();
    sum = 0;
    for (int r : results) sum += r;
  }
  finish(state, sum);
}

void tbb_parallel_for(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, workers());
  std::vector<int> data(for_items);
  for (auto _ : state) {
    tbb::parallel_for(std::size_t{0}, for_items, [&data](std::size_t i) { data[i] = static_cast<int>(3 * i + 1); });
    benchmark::DoNotOptimize(data.data());
  }
  check_filled(state, data);
}

void tbb_post_wait(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, workers());
  tbb::task_group group;
  std::atomic<std::int64_t> sum{0};
  for (auto _ : state) {
    sum = 0;
    for (int i = 0; i < tasks_per_run; ++i) group.run([&sum, i] { sum.fetch_add(i, std::memory_order_relaxed); });
    group.wait();
  }
  finish(state, sum.load());
}
#endif

#if defined(WEFT_BENCH_HAVE_BOOST)
// Boost.Asio's thread_pool: futures through std::packaged_task, waiting
// through a std::latch (the pool itself can only be joined, not waited on).
void asio_submit_get(benchmark::State& state) {
  boost::asio::thread_pool pool(workers());
  std::vector<std::future<int>> futures(tasks_per_run);
  std::int64_t sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < tasks_per_run; ++i) {
      auto task = std::make_shared<std::packaged_task<int()>>([i] { return i; });
      futures[i] = task->get_future();
      boost::asio::post(pool, [task] { (*task)(); });
    }
    sum = 0;
    for (auto& f : futures) sum += f.get();
  }
  pool.join();
  finish(state, sum);
}

void asio_post_wait(benchmark::State& state) {
  boost::asio::thread_pool pool(workers());
  std::atomic<std::int64_t> sum{0};
  for (auto _ : state) {
    sum = 0;
    std::latch done(tasks_per_run);
    for (int i = 0; i < tasks_per_run; ++i)
      boost::asio::post(pool, [&sum, &done, i] {
        sum.fetch_add(i, std::memory_order_relaxed);
        done.count_down();
      });
    done.wait();
  }
  pool.join();
  finish(state, sum.load());
}
#endif

}  // namespace

void register_pool() {
  add("pool/weft/submit_get", weft_submit_get);
  add("pool/weft/post_wait", weft_post_wait);
  add("pool/weft/map", weft_map);
  add("pool/weft/imap", weft_imap);
  add("pool/weft/parallel_for", weft_parallel_for);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("pool/tbb_task_group/submit_get", tbb_submit_get);
  add("pool/tbb_task_group/post_wait", tbb_post_wait);
  add("pool/tbb/parallel_for", tbb_parallel_for);
#endif
#if defined(WEFT_BENCH_HAVE_BOOST)
  add("pool/asio/submit_get", asio_submit_get);
  add("pool/asio/post_wait", asio_post_wait);
#endif
  add("pool/std_async/submit_get", std_async_submit_get);
  add("pool/std_async/post_wait", std_async_post_wait);
}

}  // namespace weft_bench
