// weft — MIT licence. See LICENSE.
// Stress: millions of small tasks through thread_pool from several
// submitting threads (outside and inside the pool), exactly once.
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <random>

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
