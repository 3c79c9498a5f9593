// weft — MIT licence. See LICENSE.
// Tasks that wait (future::get, wait_for, weft::wait, as_completed) inside a
// thread_pool: the scenarios an adversarial review hung, crashed or made
// late. Each test is named after the symptom it guards against; each runs
// under weft_test::finishes, so a regression is a named failure, not a
// ctest timeout.
#include <weft/bounded_queue.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <ranges>
#include <vector>

using namespace std::chrono_literals;
using weft::thread_pool;
using weft_test::finishes;

TEST_CASE("helping never runs a later stage that waits on the helper (deadlock)",
          "[thread_pool][helping]") {
  finishes("A waits for B; C (waits for A) must not run on A's stack", [] {
    thread_pool pool(2);
    weft_test::gate release_b, c_submitted;
    std::atomic<bool> b_running{false}, a_running{false};
    auto b = pool.submit([&] {
      b_running = true;
      release_b.wait();
      return 1;
    });
    REQUIRE(weft_test::eventually([&] { return b_running.load(); }));
    auto a = std::make_shared<weft::future<int>>(pool.submit([&] {
      a_running = true;
      c_submitted.wait();  // C is queued before A starts to wait
      return b.get() + 1;
    }));
    REQUIRE(weft_test::eventually([&] { return a_running.load(); }));
    auto c = pool.submit([a] {
      a->wait();
      return 3;
    });
    c_submitted.open();
    weft_test::let_others_run();  // A is now waiting for B, with C queued
    release_b.open();
    CHECK(c.get() == 3);
    CHECK(a->get() == 2);
  });
}

TEST_CASE("helping never runs a task that needs a mutex the helper holds (deadlock)",
          "[thread_pool][helping]") {
  finishes("A holds m while it waits; C locks m", [] {
    thread_pool pool(2);
    std::mutex m;
    weft_test::gate release_b, c_submitted;
    std::atomic<bool> b_running{false}, a_running{false};
    auto b = pool.submit([&] {
      b_running = true;
      release_b.wait();
      return 1;
    });
    REQUIRE(weft_test::eventually([&] { return b_running.load(); }));
    auto a = pool.submit([&] {
      std::lock_guard lock(m);
      a_running = true;
      c_submitted.wait();
      return b.get() + 1;
    });
    REQUIRE(weft_test::eventually([&] { return a_running.load(); }));
    auto c = pool.submit([&] {
      std::lock_guard lock(m);
      return 3;
    });
    c_submitted.open();
    weft_test::let_others_run();
    release_b.open();
    CHECK(a.get() == 2);
    CHECK(c.get() == 3);
  });
}

TEST_CASE("200000 tasks waiting for one long task do not nest on one stack (stack overflow)",
          "[thread_pool][helping]") {
  finishes("200k waiters on one task", [] {
    thread_pool pool(2);
    weft_test::gate release_long, release_second;
    std::atomic<int> started{0};
    auto slow = std::make_shared<weft::future<int>>(pool.submit([&] {
      started++;
      release_long.wait();
      return 7;
    }));
    pool.post([&] {  // holds the other worker until every waiter is queued
      started++;
      release_second.wait();
    });
    REQUIRE(weft_test::eventually([&] { return started.load() == 2; }));
    constexpr int waiters = 200'000;
    std::atomic<int> seen{0};
    for (int i = 0; i < waiters; ++i)
      pool.post([slow, &seen] {
        slow->wait();
        seen.fetch_add(1, std::memory_order_relaxed);
      });
    release_second.open();  // the free worker meets 200k queued waiters
    weft_test::let_others_run();
    release_long.open();
    pool.wait();
    CHECK(seen.load() == waiters);
  });
}

TEST_CASE("wait_for on a worker returns by its deadline, even when the awaited task is queued",
          "[thread_pool][helping]") {
  finishes("wait_for(50ms) on a worker", [] {
    thread_pool pool(2);
    weft_test::gate release;
    auto outer = pool.submit([&] {
      // Not started yet: the old helper ran it inline and blocked on the gate.
      auto inner = pool.submit([&] {
        release.wait();
        return 1;
      });
      auto status = inner.wait_for(50ms);
      release.open();
      return std::pair(status, inner.get());
    });
    auto [status, value] = outer.get();
    // The other worker may have started `inner`; either way it is blocked on
    // the gate, so it cannot be ready before the deadline.
    CHECK(status == std::future_status::timeout);
    CHECK(value == 1);
  });
}

TEST_CASE("wait_for on a worker does not run an unrelated queued task past its deadline",
          "[thread_pool][helping]") {
  finishes("wait_for with an unrelated task queued", [] {
    thread_pool pool(2);
    weft_test::gate release_b, release_u, u_queued;
    std::atomic<bool> b_running{false}, a_running{false};
    auto b = pool.submit([&] {
      b_running = true;
      release_b.wait();
      return 1;
    });
    REQUIRE(weft_test::eventually([&] { return b_running.load(); }));
    auto a = pool.submit([&] {
      a_running = true;
      u_queued.wait();
      auto status = b.wait_for(50ms);
      release_u.open();  // only once the wait is over
      return status;
    });
    REQUIRE(weft_test::eventually([&] { return a_running.load(); }));
    auto u = pool.submit([&] { release_u.wait(); });
    u_queued.open();
    CHECK(a.get() == std::future_status::timeout);
    release_b.open();
    u.get();
    CHECK(b.get() == 1);
  });
}

TEST_CASE("weft::wait never loses a completion that lands while it starts (hang)",
          "[thread_pool][helping]") {
  finishes("weft::wait first_exception x2000", [] {
    thread_pool pool(2);
    for (int round = 0; round < 2000; ++round) {
      // Tasks of a few microseconds, so completions land while wait() sets up.
      auto spin = [](int us) {
        auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
        while (std::chrono::steady_clock::now() < end) {
        }
      };
      std::vector<weft::future<int>> fs;
      fs.push_back(pool.submit([spin, round] { spin(round % 7); return 1; }));
      fs.push_back(pool.submit([spin, round] { spin(round % 5); return 2; }));
      auto r = weft::wait(fs, weft::return_when::first_exception);
      REQUIRE(r.done.size() == 2);
      auto all = weft::wait(fs, weft::return_when::all_completed);
      REQUIRE(all.not_done.empty());
    }
  });
}

TEST_CASE("weft::wait(all_completed) and when_all inside a task help with its own subtasks (one thread)",
          "[thread_pool][helping]") {
  finishes("wait/when_all on own subtasks, 1 thread", [] {
    thread_pool pool(1);
    auto total = pool.submit([&] {
      std::vector<weft::future<int>> fs;
      for (int i = 1; i <= 4; ++i) fs.push_back(pool.submit([i] { return i; }));
      auto r = weft::wait(fs);
      int sum = static_cast<int>(r.done.size()) * 100;
      sum += weft::when_all(std::move(fs)).get().size() == 4 ? 1 : 0;
      return sum;
    });
    CHECK(total.get() == 400 + 1);
  });
}

TEST_CASE("as_completed inside a task sleeps while the other worker runs its subtasks (two threads)",
          "[thread_pool][helping]") {
  // A race never helps (it could run an endless racer inline); on two
  // threads the other worker takes the subtasks, as in a FIFO pool.
  finishes("as_completed on own subtasks, 2 threads", [] {
    thread_pool pool(2);
    auto total = pool.submit([&] {
      std::vector<weft::future<int>> more;
      for (int i = 1; i <= 4; ++i) more.push_back(pool.submit([i] { return i * 10; }));
      int sum = 0;
      for (auto& f : weft::as_completed(more)) sum += f.get();
      return sum;
    });
    CHECK(total.get() == 100);
  });
}

TEST_CASE("recursive fork-join without a cutoff still completes (helping with own subtasks)",
          "[thread_pool][helping]") {
  finishes("chains and fib on 1 and 2 threads", [] {
    for (std::size_t threads : {1u, 2u}) {
      thread_pool pool(threads);
      struct rec {
        static long fib(thread_pool& p, int n) {
          if (n < 2) return n;
          auto a = p.submit([&p, n] { return fib(p, n - 1); });
          long b = fib(p, n - 2);
          return a.get() + b;
        }
        static int chain(thread_pool& p, int depth) {
          if (depth == 0) return 0;
          return p.submit([&p, depth] { return chain(p, depth - 1); }).get() + 1;
        }
      };
      CHECK(pool.submit([&] { return rec::fib(pool, 22); }).get() == 17711);
      CHECK(pool.submit([&] { return rec::chain(pool, 2000); }).get() == 2000);
    }
  });
}

namespace {
struct alignas(64) line {
  unsigned char bytes[64] = {};
};
struct alignas(256) page_part {
  double x = 1.5;
};
}  // namespace

TEST_CASE("over-aligned captures and results sit at their alignment", "[thread_pool]") {
  thread_pool pool(2);
  std::vector<weft::future<std::uintptr_t>> captures;
  std::vector<weft::future<page_part>> results;
  for (int i = 0; i < 200; ++i) {
    captures.push_back(pool.submit([l = line{}] { return reinterpret_cast<std::uintptr_t>(&l) % 64; }));
    captures.push_back(pool.submit([l = line{}, i] { return (reinterpret_cast<std::uintptr_t>(&l) + 64 * i) % 64; }));
    results.push_back(pool.submit([] { return page_part{}; }));
  }
  for (auto& f : captures) CHECK(f.get() == 0);
  for (auto& f : results) CHECK(f.get().x == 1.5);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_TEST_SANITIZED 1
#endif
#endif

#if defined(__GLIBC__) && !defined(WEFT_TEST_SANITIZED)
#include <malloc.h>
#include <unistd.h>

namespace {
// Resident set size in bytes, from /proc/self/statm.
long resident_bytes() {
  long pages_total = 0, pages_resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
  std::fclose(f);
  return pages_resident * ::sysconf(_SC_PAGESIZE);
}
}  // namespace

// Sanitizer allocators keep freed memory on purpose; checked in plain builds.
TEST_CASE("a 1M-task backlog's memory is returned once the pool is gone (memory never returned)",
          "[thread_pool]") {
  ::malloc_trim(0);
  const long before = resident_bytes();
  {
    thread_pool pool(2);
    weft_test::gate release;
    pool.post([&] { release.wait(); });
    pool.post([&] { release.wait(); });
    std::atomic<long> ran{0};
    for (int i = 0; i < 1'000'000; ++i) pool.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    release.open();
    pool.wait();
    CHECK(ran == 1'000'000);
  }
  ::malloc_trim(0);
  const long after = resident_bytes();
  INFO("resident before " << before / 1024 << " KiB, after " << after / 1024 << " KiB");
  CHECK(after - before < 24L * 1024 * 1024);  // the backlog itself took ~100 MiB
}

// Resident set size at the 1 millionth and the 10 millionth item of a
// streaming range, both taken inside the loop: the range, and all it holds,
// dies with the loop. on_item sees every item.
struct rss_samples {
  long at_1m = 0, at_10m = 0;
};
template <class Results, class OnItem>
rss_samples rss_over_10m_items(Results&& results, OnItem on_item) {
  rss_samples rss;
  long seen = 0;
  for (auto v : results) {
    on_item(v);
    if (++seen == 1'000'000) rss.at_1m = resident_bytes();
    if (seen == 10'000'000) {
      rss.at_10m = resident_bytes();
      return rss;
    }
  }
  FAIL("the range ended after " << seen << " items");
  return rss;
}

TEST_CASE("imap over an unbounded range keeps memory flat for 10 million items", "[thread_pool][imap]") {
  thread_pool pool(2);
  long long sum = 0;
  const rss_samples rss = rss_over_10m_items(pool.imap([](long x) { return x & 7; }, weft_test::counting<long>(0),
                                                       weft::map_options{.chunksize = 4096}),
                                             [&](long v) { sum += v; });
  INFO("resident at 1M items " << rss.at_1m / 1024 << " KiB, at 10M " << rss.at_10m / 1024 << " KiB");
  CHECK(sum == 10'000'000LL / 8 * 28);
  CHECK(rss.at_10m - rss.at_1m < 8L * 1024 * 1024);
}

// One task per item (the default chunksize): what imap_unordered keeps per
// chunk (the order chunks completed in) must not outlive the chunk.
TEST_CASE("imap_unordered of single items over an unbounded range keeps memory flat for 10 million items",
          "[thread_pool][imap]") {
  thread_pool pool(2);
  long out_of_range = 0;
  const rss_samples rss = rss_over_10m_items(
      pool.imap_unordered([](long x) { return x & 7; }, weft_test::counting<long>(0)),
      [&](long v) { if (v < 0 || v > 7) ++out_of_range; });
  INFO("resident at 1M items " << rss.at_1m / 1024 << " KiB, at 10M " << rss.at_10m / 1024 << " KiB");
  CHECK(out_of_range == 0);
  CHECK(rss.at_10m - rss.at_1m < 8L * 1024 * 1024);
}
#endif

TEST_CASE("tasks submitted from outside start in submission order on every worker (deadlock)",
          "[thread_pool][fifo]") {
  // Task 2k waits for an item that task 2k+1 produces: a FIFO pool of two
  // runs each pair side by side. Workers that took batches of the backlog
  // started 0 and 16 first and left 1 and 17 queued behind them.
  finishes("pairs of a consumer and its producer, submitted as a backlog", [] {
    thread_pool pool(2);
    weft_test::gate open_gate;
    std::atomic<int> blockers_running{0};
    std::vector<weft::future<void>> futures;
    for (int i = 0; i < 2; ++i)
      futures.push_back(pool.submit([&] {
        ++blockers_running;
        open_gate.wait();
      }));
    REQUIRE(weft_test::eventually([&] { return blockers_running.load() == 2; }));
    constexpr int pairs = 20;
    std::vector<std::unique_ptr<weft::bounded_queue<int>>> links;
    for (int k = 0; k < pairs; ++k) links.push_back(std::make_unique<weft::bounded_queue<int>>(1));
    for (int k = 0; k < pairs; ++k) {
      auto& link = *links[static_cast<std::size_t>(k)];
      futures.push_back(pool.submit([&link] { (void)link.pop(); }));
      futures.push_back(pool.submit([&link] { link.push(1); }));
    }
    open_gate.open();
    for (auto& f : futures) f.get();
  });
}

#if defined(WEFT_HAS_STOP_TOKEN)
namespace {
// Inside a task: a quick and a stoppable endless subtask race; the waiter
// takes the first result and stops the other. A FIFO pool of two runs the
// quick one on the other worker and returns. A waiter that ran the endless
// one inline (it is the newest subtask) would wait for itself forever.
template <class WaitForFirst>
void race_inside_a_task(const char* what, WaitForFirst wait_for_first) {
  finishes(what, [&] {
    thread_pool pool(2);
    auto parent = pool.submit([&pool, &wait_for_first] {
      std::vector<weft::future<int>> racers;
      racers.push_back(pool.submit([] { return 1; }));
      racers.push_back(pool.submit([](std::stop_token stop) {
        while (!stop.stop_requested()) std::this_thread::yield();
        return 2;
      }));
      std::size_t winner = wait_for_first(racers);
      for (auto& f : racers) f.request_stop();
      for (auto& f : racers) f.wait();
      return racers[winner].get();
    });
    CHECK(parent.get() == 1);
  });
}
}  // namespace

TEST_CASE("a race inside a task never runs the endless racer on the waiter's stack (deadlock)",
          "[thread_pool][helping]") {
  race_inside_a_task("weft::wait(first_completed)", [](auto& racers) {
    return weft::wait(racers, weft::return_when::first_completed).done.front();
  });
  race_inside_a_task("when_any", [](auto& racers) { return weft::when_any(racers).get(); });
  race_inside_a_task("as_completed", [](auto& racers) {
    for (auto& f : weft::as_completed(racers)) return static_cast<std::size_t>(&f - racers.data());
    return std::size_t{0};
  });
}
#endif

TEST_CASE("leapfrogging never runs a consumer the awaited task posted and the waiter feeds (deadlock)",
          "[thread_pool][helping]") {
  // T waits for A, which runs on the other worker. A posts a consumer S of
  // items that only T pushes, after A is done. A plain FIFO pool of two
  // runs S after A, on A's worker. A waiter that stole S from above A's
  // deque mark would run it on its own stack and wait for itself.
  finishes("T waits for A; A's consumer S waits for T", [] {
    thread_pool pool(2);
    constexpr int items = 10;
    weft::bounded_queue<int> q(items);
    std::atomic<bool> a_started{false}, t_waiting{false}, s_started{false};
    auto a = std::make_shared<weft::future<void>>(pool.submit([&] {
      a_started = true;
      (void)weft_test::eventually([&] { return t_waiting.load(); });
      pool.post([&] {
        s_started = true;
        for (int i = 0; i < items; ++i) (void)q.pop();
      });
      // Not a synchronization: gives a leapfrogging waiter time to take S
      // (old code: within microseconds); a correct pool never starts S here.
      const auto until = std::chrono::steady_clock::now() + 1s;
      while (!s_started.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    }));
    REQUIRE(weft_test::eventually([&] { return a_started.load(); }));
    auto t = pool.submit([&, a] {
      t_waiting = true;
      a->get();
      for (int i = 0; i < items; ++i) q.push(i);
    });
    t.get();
    pool.wait();
    CHECK(q.empty());
  }, 30s);
}

TEST_CASE("leapfrogging still helps with a subtask the awaited task waits for", "[thread_pool][helping]") {
  // The safe case: fork-join, where every subtask is waited for by its
  // spawner. Completes on two threads whatever the interleaving.
  finishes("fork-join across two workers", [] {
    thread_pool pool(2);
    struct rec {
      static long fib(thread_pool& p, int n) {
        if (n < 2) return n;
        auto x = p.submit([&p, n] { return fib(p, n - 1); });
        long y = fib(p, n - 2);
        return x.get() + y;
      }
    };
    auto a = pool.submit([&] { return rec::fib(pool, 20); });
    auto b = pool.submit([&] { return rec::fib(pool, 20); });
    CHECK(a.get() + b.get() == 2 * 6765);
  });
}

#if defined(WEFT_HAS_STOP_TOKEN)
namespace {
// On a one-thread pool, a task races its own endless, stoppable subtask
// against a quick task on another pool. A FIFO pool of one leaves the
// endless racer queued (its only worker is the waiter); the other pool's
// racer wins and the waiter stops the loser. A waiter that claimed the
// endless racer and ran it inline would wait for itself.
template <class WaitForFirst>
void race_on_one_thread(const char* what, WaitForFirst wait_for_first) {
  finishes(what, [&] {
    thread_pool pool(1), other(1);
    auto parent = pool.submit([&] {
      std::vector<weft::future<int>> racers;
      racers.push_back(pool.submit([](std::stop_token stop) {
        while (!stop.stop_requested()) std::this_thread::yield();
        return 1;
      }));
      racers.push_back(other.submit([] { return 2; }));
      std::size_t winner = wait_for_first(racers);
      for (auto& f : racers) f.request_stop();
      racers[0].cancel();  // not started: it never runs
      return racers[winner].get();
    });
    CHECK(parent.get() == 2);
  }, 30s);
}
}  // namespace

TEST_CASE("a race on a one-thread pool never runs the endless racer inline (deadlock)",
          "[thread_pool][helping]") {
  race_on_one_thread("weft::wait(first_completed), 1 thread", [](auto& racers) {
    return weft::wait(racers, weft::return_when::first_completed).done.front();
  });
  race_on_one_thread("as_completed, 1 thread", [](auto& racers) {
    for (auto& f : weft::as_completed(racers)) return static_cast<std::size_t>(&f - racers.data());
    return std::size_t{0};
  });
  race_on_one_thread("when_any, 1 thread", [](auto& racers) { return weft::when_any(racers).get(); });
}
#endif
