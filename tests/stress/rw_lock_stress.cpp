// weft — MIT licence. See LICENSE.
// Stress: rw_lock mutual exclusion and fairness under more threads than
// cores. Fairness is checked with progress counters and a generous hang
// limit, never with timing.
#include <weft/rw_lock.hpp>

#include "support.hpp"

#include <mutex>
#include <shared_mutex>

using weft::rw_lock;

TEST_CASE("writers are exclusive and readers see consistent state", "[rw_lock][stress]") {
  rw_lock lock;
  long a = 0, b = 0;  // guarded by lock: a == b outside a writer's section
  std::atomic<int> readers_inside{0}, writers_inside{0};
  std::atomic<long> violations{0}, reads{0};
  const int ops = 50000 * static_cast<int>(weft_test::stress_scale());
  weft_test::run_threads(6, [&](int id) {
    for (int i = 0; i < ops; ++i) {
      if ((i + id) % 10 == 0) {
        std::unique_lock guard(lock);
        if (writers_inside.fetch_add(1) != 0 || readers_inside.load() != 0) violations++;
        ++a;
        ++b;
        writers_inside.fetch_sub(1);
      } else {
        std::shared_lock guard(lock);
        readers_inside.fetch_add(1);
        if (writers_inside.load() != 0 || a != b) violations++;
        reads++;
        readers_inside.fetch_sub(1);
      }
    }
  });
  CHECK(violations.load() == 0);
  CHECK(a == b);
  CHECK(a == 6L * ops / 10);
}

// Phases of 50% writes and of 1% writes, so the lock keeps switching its
// readers between the state word and the per-thread slots while others are
// inside or waiting.
TEST_CASE("exclusion holds while the lock switches between write-heavy and read-mostly use",
          "[rw_lock][stress]") {
  rw_lock lock;
  long a = 0, b = 0;  // guarded by lock: a == b outside a writer's section
  std::atomic<int> readers_inside{0}, writers_inside{0};
  std::atomic<long> violations{0}, writes{0};
  const int rounds = 20 * static_cast<int>(weft_test::stress_scale());
  weft_test::run_threads(6, [&](int id) {
    unsigned x = static_cast<unsigned>(id) + 1;
    for (int round = 0; round < rounds; ++round) {
      const int write_percent = round % 2 == 0 ? 50 : 1;
      for (int i = 0; i < 2000; ++i) {
        x = x * 1664525u + 1013904223u;
        if (static_cast<int>((x >> 8) % 100) < write_percent) {
          std::unique_lock guard(lock);
          if (writers_inside.fetch_add(1) != 0 || readers_inside.load() != 0) violations++;
          ++a;
          ++b;
          writes++;
          writers_inside.fetch_sub(1);
        } else {
          std::shared_lock guard(lock);
          readers_inside.fetch_add(1);
          if (writers_inside.load() != 0 || a != b) violations++;
          readers_inside.fetch_sub(1);
        }
      }
    }
  });
  CHECK(violations.load() == 0);
  CHECK(a == b);
  CHECK(a == writes.load());
}

TEST_CASE("readers actually overlap", "[rw_lock][stress]") {
  rw_lock lock;
  std::atomic<int> inside{0}, max_inside{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back([&] {
      while (!stop) {
        std::shared_lock guard(lock);
        int now = inside.fetch_add(1) + 1;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {}
        // Stay inside until someone else joins (or the test ends).
        weft_test::eventually([&] { return inside.load() > 1 || stop.load(); });
        inside.fetch_sub(1);
      }
    });
  bool overlapped = weft_test::eventually([&] { return max_inside.load() >= 2; });
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(overlapped);
}

// Readers keep the lock continuously held by at least one of them (their
// sections overlap); a writer must still get in, repeatedly.
TEST_CASE("no writer starvation under a continuous stream of readers", "[rw_lock][stress]") {
  rw_lock lock;
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r)
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::shared_lock guard(lock);
        reads.fetch_add(1, std::memory_order_relaxed);
        for (int spin = 0; spin < 200; ++spin) weft::detail::cpu_relax();
      }
    });
  constexpr int writes_wanted = 2000;
  std::atomic<int> writes{0};
  std::thread writer([&] {
    for (int i = 0; i < writes_wanted && !stop; ++i) {
      std::unique_lock guard(lock);
      writes.fetch_add(1);
    }
  });
  bool writer_done = weft_test::eventually([&] { return writes.load() == writes_wanted; });
  stop = true;
  writer.join();
  for (auto& t : readers) t.join();
  CHECK(writer_done);
  CHECK(reads.load() > 0);
}

TEST_CASE("no reader starvation under a continuous stream of writers", "[rw_lock][stress]") {
  rw_lock lock;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::unique_lock guard(lock);
        for (int spin = 0; spin < 200; ++spin) weft::detail::cpu_relax();
      }
    });
  constexpr int reads_wanted = 2000;
  std::atomic<int> reads{0};
  std::thread reader([&] {
    for (int i = 0; i < reads_wanted && !stop; ++i) {
      std::shared_lock guard(lock);
      reads.fetch_add(1);
    }
  });
  bool reader_done = weft_test::eventually([&] { return reads.load() == reads_wanted; });
  stop = true;
  reader.join();
  for (auto& t : writers) t.join();
  CHECK(reader_done);
}

TEST_CASE("timed and try variants under contention keep the lock consistent",
          "[rw_lock][stress]") {
  rw_lock lock;
  long value = 0;  // guarded by lock
  std::atomic<long> writes{0};
  using namespace std::chrono_literals;
  weft_test::run_threads(6, [&](int id) {
    for (int i = 0; i < 20000; ++i) {
      switch ((i + id) % 4) {
        case 0:
          if (lock.try_lock_for(50us)) { ++value; writes++; lock.unlock(); }
          break;
        case 1:
          if (lock.try_lock()) { ++value; writes++; lock.unlock(); }
          break;
        case 2:
          if (lock.try_lock_shared_for(50us)) { (void)value; lock.unlock_shared(); }
          break;
        default:
          if (lock.try_lock_shared()) lock.unlock_shared();
      }
    }
  });
  std::unique_lock guard(lock);
  CHECK(value == writes.load());
}
