// weft — MIT licence. See LICENSE.
// async/<impl>/sleep_semaphore — 10,000 tasks on one event loop, at most
// 1,000 at a time (a semaphore), each sleeping 100 ms: ideal wall time
// 1.0 s. Counters: wall_s (one run), vs_ideal (wall_s / 1.0 s), peak_rss_MiB
// (the process's peak resident set during the run: VmHWM, reset through
// /proc/self/clear_refs, after malloc_trim, before it) and rss_growth_MiB (that peak minus the
// resident set before the run).
// async/<impl>/spawn_await — spawn 200,000 trivial tasks, then await each
// one's result in order: tasks/s (items_per_second).
// <impl>: weft (<weft/task.hpp>), asio (Boost.Asio's own C++20 coroutines:
// awaitable, co_spawn, steady_timer; compiled in with WEFT_BENCH_HAVE_BOOST).
// Python asyncio's numbers for the same workloads: bench/python/async_bench.py,
// which also prints weft ÷ Python and weft ÷ Asio.
#include <weft/task.hpp>

#include "harness.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>  // malloc_trim
#endif

#if defined(WEFT_BENCH_HAVE_BOOST) && __has_include(<boost/asio/awaitable.hpp>)
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#define WEFT_BENCH_ASIO_COROUTINES 1
#endif

namespace weft_bench {
namespace {

constexpr int sleepers = 10'000;
constexpr int permits = 1'000;
constexpr auto nap = std::chrono::milliseconds(100);
constexpr double ideal_seconds = 1.0;  // sleepers / permits * nap
constexpr int trivial_tasks = 200'000;

// Linux: resident-set figures of this process, in KiB, from /proc/self/status.
long status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string word;
  while (in >> word)
    if (word == key) {
      long kib = 0;
      in >> kib;
      return kib;
    }
  return 0;
}
// Resets VmHWM to the current RSS (Linux >= 4.0); false where unsupported.
// First gives free heap memory back to the system: what an earlier
// benchmark (spawn_await's 200,000 frames) left in malloc's free lists
// would otherwise count as this run's peak.
bool reset_peak_rss() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// Runs `once` (one whole workload) per iteration and reports the counters
// described at the top of the file.
template <class Once>
void sleep_semaphore_bench(benchmark::State& state, Once once) {
  double wall = 0, peak_kib = 0, growth_kib = 0;
  for (auto _ : state) {
    const bool reset = reset_peak_rss();
    const long before = status_kib("VmRSS:");
    const auto start = std::chrono::steady_clock::now();
    if (once() != sleepers) state.SkipWithError("not every task ran");
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const long peak = status_kib("VmHWM:");
    if (!reset) state.SkipWithError("cannot reset the peak RSS (/proc/self/clear_refs)");
    peak_kib = std::max(peak_kib, static_cast<double>(peak));
    growth_kib = std::max(growth_kib, static_cast<double>(peak - before));
  }
  const double runs = static_cast<double>(state.iterations());
  state.counters["wall_s"] = wall / runs;
  state.counters["vs_ideal"] = wall / runs / ideal_seconds;
  state.counters["peak_rss_MiB"] = peak_kib / 1024;
  state.counters["rss_growth_MiB"] = growth_kib / 1024;
  state.SetItemsProcessed(state.iterations() * sleepers);
}

// ---- weft ----

weft::task<void> weft_sleeper(weft::async_semaphore* sem, int* done) {
  auto permit = co_await sem->acquire();  // FIFO; given back by the permit's destructor
  co_await weft::sleep_for(nap);
  ++*done;
}

weft::task<int> weft_sleep_semaphore() {
  weft::async_semaphore sem(permits);
  int done = 0;
  std::vector<weft::task<void>> tasks;
  tasks.reserve(sleepers);
  for (int i = 0; i < sleepers; ++i) tasks.push_back(weft_sleeper(&sem, &done));
  co_await weft::gather(std::move(tasks));  // spawns each on this loop, waits for all
  co_return done;
}

weft::task<int> weft_trivial(int i) { co_return i; }

weft::task<long long> weft_spawn_await() {
  std::vector<weft::future<int>> futures;
  futures.reserve(trivial_tasks);
  for (int i = 0; i < trivial_tasks; ++i) futures.push_back(weft::spawn(weft_trivial(i)));
  long long sum = 0;
  for (auto& f : futures) sum += co_await f;
  co_return sum;
}

constexpr long long expected_sum = static_cast<long long>(trivial_tasks) * (trivial_tasks - 1) / 2;

void bm_weft_sleep_semaphore(benchmark::State& state) {
  sleep_semaphore_bench(state, [] { return weft::run(weft_sleep_semaphore()); });
}

void bm_weft_spawn_await(benchmark::State& state) {
  for (auto _ : state)
    if (weft::run(weft_spawn_await()) != expected_sum) state.SkipWithError("wrong sum");
  state.SetItemsProcessed(state.iterations() * trivial_tasks);
}

// ---- Asio's own coroutines ----
#if defined(WEFT_BENCH_ASIO_COROUTINES)
namespace asio = boost::asio;

// Asio 1.74 has no semaphore: the usual one, a counter and a timer that
// never expires, whose cancel_one() wakes one waiter.
class asio_semaphore {
 public:
  asio_semaphore(asio::io_context& io, int count) : timer_(io, asio::steady_timer::time_point::max()), count_(count) {}
  asio::awaitable<void> acquire() {
    while (count_ == 0) {
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    --count_;
  }
  void release() {
    ++count_;
    timer_.cancel_one();
  }

 private:
  asio::steady_timer timer_;
  int count_;
};

asio::awaitable<void> asio_sleeper(asio::io_context& io, asio_semaphore& sem, int& done) {
  co_await sem.acquire();
  asio::steady_timer timer(io, nap);
  co_await timer.async_wait(asio::use_awaitable);
  sem.release();
  ++done;
}

int asio_sleep_semaphore() {
  asio::io_context io(1);
  asio_semaphore sem(io, permits);
  int done = 0;
  for (int i = 0; i < sleepers; ++i) asio::co_spawn(io, asio_sleeper(io, sem, done), asio::detached);
  io.run();
  return done;
}

asio::awaitable<int> asio_trivial(int i) { co_return i; }

// Asio 1.74 has no task handle to await later (no asio::experimental::
// promise): each task's completion handler stores its result, and the
// spawner awaits a timer that the last completion cancels.
asio::awaitable<void> asio_spawn_await(asio::io_context& io, long long& sum) {
  std::vector<int> results(trivial_tasks);
  int finished = 0;
  asio::steady_timer all_done(io, asio::steady_timer::time_point::max());
  for (int i = 0; i < trivial_tasks; ++i)
    asio::co_spawn(io, asio_trivial(i), [&, i](std::exception_ptr, int v) {
      results[static_cast<std::size_t>(i)] = v;
      if (++finished == trivial_tasks) all_done.cancel();
    });
  boost::system::error_code ec;
  if (finished < trivial_tasks) co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  for (int v : results) sum += v;
}

void bm_asio_sleep_semaphore(benchmark::State& state) { sleep_semaphore_bench(state, asio_sleep_semaphore); }

void bm_asio_spawn_await(benchmark::State& state) {
  for (auto _ : state) {
    asio::io_context io(1);
    long long sum = 0;
    asio::co_spawn(io, asio_spawn_await(io, sum), asio::detached);
    io.run();
    if (sum != expected_sum) state.SkipWithError("wrong sum");
  }
  state.SetItemsProcessed(state.iterations() * trivial_tasks);
}
#endif

}  // namespace

void register_async() {
  // Both sleep_semaphore rows first: what spawn_await leaves resident (the
  // allocator's free lists) would otherwise be counted in their peak RSS.
  add("async/weft/sleep_semaphore", bm_weft_sleep_semaphore)->Unit(benchmark::kSecond);
#if defined(WEFT_BENCH_ASIO_COROUTINES)
  add("async/asio/sleep_semaphore", bm_asio_sleep_semaphore)->Unit(benchmark::kSecond);
#endif
  add("async/weft/spawn_await", bm_weft_spawn_await);
#if defined(WEFT_BENCH_ASIO_COROUTINES)
  add("async/asio/spawn_await", bm_asio_spawn_await);
#endif
}

}  // namespace weft_bench
