// weft — MIT licence. See LICENSE.
// Stress: millions of small tasks through thread_pool from several
// submitting threads (outside and inside the pool), exactly once.
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <latch>
#include <random>
#include <vector>

TEST_CASE("1M small tasks from several submitting threads run exactly once",
          "[thread_pool][stress]") {
  weft::thread_pool pool(3);
  const int per_submitter = 250000 * static_cast<int>(weft_test::stress_scale());
  constexpr int submitters = 4;
  const int total = per_submitter * submitters;
  auto hits = std::make_unique<std::atomic<std::uint8_t>[]>(static_cast<std::size_t>(total));
  weft_test::run_threads(submitters, [&](int s) {
    for (int i = 0; i < per_submitter; ++i) {
      int id = s * per_submitter + i;
      if (i % 2) pool.post([&hits, id] { hits[id]++; });
      else (void)pool.submit([&hits, id] { hits[id]++; });  // future dropped at once
    }
  });
  pool.wait();
  int wrong = 0;
  for (int i = 0; i < total; ++i) wrong += hits[i].load() != 1;
  CHECK(wrong == 0);
}

TEST_CASE("tasks spawning tasks: every leaf runs once", "[thread_pool][stress]") {
  weft::thread_pool pool(4);
  std::atomic<long> leaves{0};
  std::function<void(int)> spawn = [&](int depth) {
    if (depth == 0) {
      leaves++;
      return;
    }
    pool.post(spawn, depth - 1);
    pool.post(spawn, depth - 1);
  };
  pool.post(spawn, 17);
  pool.wait();
  CHECK(leaves.load() == (1L << 17));
}

TEST_CASE("futures waited on from many threads while cancellation races with running",
          "[thread_pool][stress]") {
  for (int round = 0; round < 20; ++round) {
    weft::thread_pool pool(2);
    std::vector<weft::future<int>> futures;
    std::atomic<int> ran{0};
    for (int i = 0; i < 2000; ++i) futures.push_back(pool.submit([&ran, i] { ran++; return i; }));
    std::atomic<int> cancelled{0};
    std::thread canceller([&] {
      for (std::size_t i = 0; i < futures.size(); i += 2) cancelled += futures[i].cancel() ? 1 : 0;
    });
    canceller.join();
    int ok = 0, saw_cancelled = 0;
    for (auto& f : futures) {
      try {
        ok += f.get() >= 0;
      } catch (const weft::cancelled&) {
        saw_cancelled++;
      }
    }
    pool.wait();
    CHECK(saw_cancelled == cancelled.load());
    CHECK(ok == ran.load());
    CHECK(ok + saw_cancelled == 2000);
  }
}

// A lost wake-up leaves work queued while a worker sleeps. Between rounds
// the pool idles long enough for its workers to park (or to be half-way
// there); each round then needs two wake-ups: the outside submit wakes one
// worker, whose push of a subtask must wake the other (the parent waits
// with wait_for, which never helps, so only the other worker can run the
// subtask); and the subtask's and the parent's completions must wake
// their sleeping waiters. A lost one shows as a wait that runs into its
// (far) deadline.
TEST_CASE("no lost wake-up when submissions and completions meet sleeping workers and waiters",
          "[thread_pool][stress]") {
  weft::thread_pool pool(2);
  const int rounds = 3000 * static_cast<int>(weft_test::stress_scale());
  std::minstd_rand random(7);
  std::atomic<std::uint64_t> sink{0};
  int lost = 0;
  for (int round = 0; round < rounds && lost == 0; ++round) {
    const auto idle = std::chrono::microseconds(random() % 200);
    const int spin = static_cast<int>(random() % 300);
    if (idle.count() > 100) std::this_thread::sleep_for(idle);  // not a sync: lets workers park
    auto parent = pool.submit([&pool, &sink, spin] {
      auto child = pool.submit([&sink, spin] {
        std::uint64_t s = 1;  // a little work of varying length
        for (int i = 0; i < spin; ++i) s = s * 6364136223846793005u + 1442695040888963407u;
        sink.store(s, std::memory_order_relaxed);
        return spin;
      });
      if (child.wait_for(weft_test::hang_limit) != std::future_status::ready) return -1;
      return child.get();
    });
    if (parent.wait_for(weft_test::hang_limit) != std::future_status::ready || parent.get() != spin) ++lost;
  }
  CHECK(lost == 0);
}

namespace {
weft::shutdown_mode random_mode(std::mt19937& rng) {
  switch (rng() % 3) {
    case 0: return weft::shutdown_mode::drain;
    case 1: return weft::shutdown_mode::cancel_pending;
    default: return weft::shutdown_mode::cancel_all;
  }
}
}  // namespace

TEST_CASE("shutdown modes, wait() and submit raced from 8 threads: every future ends, counts agree",
          "[thread_pool][stress]") {
  const int rounds = 200 * static_cast<int>(weft_test::stress_scale());
  weft_test::finishes("8 threads racing shutdown, wait and submit", [rounds] {
    std::mt19937 seeds(2026);
    for (int round = 0; round < rounds; ++round) {
      weft::thread_pool pool(3);
      std::atomic<long> ran{0};  // tasks that ran (outside ones and their subtasks)
      std::atomic<long> values{0}, cancelled{0}, refused_inside{0};
      std::atomic<int> modes_seen{0};  // bit 0: some shutdown was not a drain
      std::latch start(8);
      const auto seed = static_cast<unsigned>(seeds());
      weft_test::run_threads(8, [&](int t) {
        std::mt19937 rng(seed + static_cast<unsigned>(t));
        start.arrive_and_wait();
        if (t == 6 || t == 7) {  // two shutdowns, maybe of different modes
          for (auto k = static_cast<unsigned>(rng() % 200); k > 0; --k) std::this_thread::yield();
          auto mode = random_mode(rng);
          if (mode != weft::shutdown_mode::drain) modes_seen.fetch_or(1);
          pool.shutdown(mode);
          return;
        }
        if (t == 5) {  // wait() again and again until the pool is gone
          for (int k = 0; k < 50; ++k) pool.wait();
          return;
        }
        std::vector<weft::future<int>> mine;
        for (int k = 0; k < 400; ++k) {
          try {
            if (k % 3 == 0) {
              mine.push_back(pool.submit([&pool, &ran, &refused_inside] {
                ran++;
                try {
                  return pool.submit([&ran] { ran++; return 1; }).get() + 1;
                } catch (const weft::pool_closed&) {
                  refused_inside++;
                  return 1;
                } catch (const weft::cancelled&) {
                  return 1;
                }
              }));
#if defined(WEFT_HAS_STOP_TOKEN)
            } else if (k % 3 == 1) {  // stoppable: cancel_all cuts it short
              mine.push_back(pool.submit([&ran](std::stop_token stop) {
                ran++;
                for (int i = 0; i < 100 && !stop.stop_requested(); ++i) std::this_thread::yield();
                return 1;
              }));
#endif
            } else {
              mine.push_back(pool.submit([&ran] { ran++; return 1; }));
            }
          } catch (const weft::pool_closed&) {
            break;
          }
        }
        for (auto& f : mine) {
          try {
            values += f.get();
          } catch (const weft::cancelled&) {
            cancelled++;
          }
        }
      });
      pool.wait();  // idle after shutdown: returns at once
      CHECK(pool.pending() == 0);
      CHECK(pool.running() == 0);
      // Each successful outside task ran once, plus its subtask when it
      // reported 2; a cancelled one never ran.
      CHECK(ran.load() == values.load());
      if (modes_seen.load() == 0) CHECK(cancelled.load() == 0);
    }
  }, std::chrono::seconds(600));
}
