// weft — MIT licence. See LICENSE.
// Stress: randomized MPMC runs of bounded_queue with exact accounting. Every
// item is tagged (producer, sequence); consumers check per-producer FIFO and
// a shared table checks each item is delivered exactly once.
#include <weft/bounded_queue.hpp>

#include "support.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using weft_test::tagged;

enum class api { blocking, try_spin, timed };

struct run_config {
  int producers;
  int consumers;
  std::size_t capacity;
  std::uint32_t items_per_producer;
};

// Runs one configuration; each thread picks its API at random per operation.
void run_mpmc(const run_config& cfg) {
  weft::bounded_queue<tagged> q(cfg.capacity);
  const auto total = static_cast<std::size_t>(cfg.producers) * cfg.items_per_producer;
  auto delivered = std::make_unique<std::atomic<std::uint8_t>[]>(total);
  std::atomic<std::uint64_t> popped{0}, checksum{0}, fifo_violations{0}, duplicates{0};

  auto consumer = [&](int id) {
    std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1);
    std::vector<std::int64_t> last(static_cast<std::size_t>(cfg.producers), -1);
    std::uint64_t local_count = 0, local_sum = 0;
    for (;;) {
      std::optional<tagged> item;
      switch (static_cast<api>(rng() % 3)) {
        case api::blocking: item = q.pop(); break;
        case api::try_spin:
          item = q.try_pop();
          if (!item && !q.closed()) continue;
          if (!item) item = q.pop();
          break;
        case api::timed: item = q.pop_for(std::chrono::microseconds(rng() % 200)); if (!item && !q.closed()) continue; if (!item) item = q.pop(); break;
      }
      if (!item) break;  // closed and drained
      auto& prev = last[item->producer];
      if (static_cast<std::int64_t>(item->seq) <= prev) fifo_violations.fetch_add(1);
      prev = item->seq;
      std::size_t index = std::size_t{item->producer} * cfg.items_per_producer + item->seq;
      if (delivered[index].fetch_add(1) != 0) duplicates.fetch_add(1);
      ++local_count;
      local_sum += index;
    }
    popped.fetch_add(local_count);
    checksum.fetch_add(local_sum);
  };
  auto producer = [&](int id) {
    std::mt19937 rng(static_cast<unsigned>(id) * 104729u + 3);
    for (std::uint32_t s = 0; s < cfg.items_per_producer; ++s) {
      tagged item{static_cast<std::uint32_t>(id), s};
      switch (static_cast<api>(rng() % 3)) {
        case api::blocking: q.push(item); break;
        case api::try_spin: while (!q.try_push(tagged(item))) std::this_thread::yield(); break;
        case api::timed:
          while (!q.try_push_for(tagged(item), std::chrono::microseconds(rng() % 200))) {}
          break;
      }
    }
  };

  std::vector<std::thread> consumers;
  for (int c = 0; c < cfg.consumers; ++c) consumers.emplace_back(consumer, c);
  weft_test::run_threads(cfg.producers, producer);
  q.close();
  for (auto& t : consumers) t.join();

  CHECK(popped.load() == total);
  CHECK(duplicates.load() == 0);
  CHECK(fifo_violations.load() == 0);
  CHECK(checksum.load() == std::uint64_t{total} * (total - 1) / 2);
  std::size_t missing = 0;
  for (std::size_t i = 0; i < total; ++i) missing += delivered[i].load() == 1 ? 0 : 1;
  CHECK(missing == 0);
}

}  // namespace

TEST_CASE("4 producers x 4 consumers x 1M items: exactly once, FIFO per producer",
          "[bounded_queue][stress]") {
  run_mpmc({4, 4, 1024, 250000u * static_cast<std::uint32_t>(weft_test::stress_scale())});
}

TEST_CASE("oversubscribed: 8 producers x 8 consumers through a tiny queue",
          "[bounded_queue][stress]") {
  run_mpmc({8, 8, 3, 25000u * static_cast<std::uint32_t>(weft_test::stress_scale())});
}

TEST_CASE("capacity 1 with one producer and many consumers", "[bounded_queue][stress]") {
  run_mpmc({1, 5, 1, 100000u});
}

TEST_CASE("close during traffic: accepted pushes equal pops, none lost",
          "[bounded_queue][stress]") {
  for (int trial = 0; trial < 20; ++trial) {
    weft::bounded_queue<int> q(16);
    std::atomic<std::int64_t> pushed{0}, popped{0}, pushed_sum{0}, popped_sum{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < 3; ++p)
      threads.emplace_back([&, p] {
        while (!go) std::this_thread::yield();
        try {
          for (int i = 1;; ++i) {
            int v = i * 4 + p;
            if (i % 2) q.push(v); else if (!q.try_push(int(v))) continue;
            pushed.fetch_add(1);
            pushed_sum.fetch_add(v);
          }
        } catch (const weft::queue_closed&) {
        }
      });
    for (int c = 0; c < 3; ++c)
      threads.emplace_back([&] {
        while (!go) std::this_thread::yield();
        while (auto v = q.pop()) {
          popped.fetch_add(1);
          popped_sum.fetch_add(*v);
        }
      });
    go = true;
    REQUIRE(weft_test::eventually([&] { return popped.load() > 2000; }));
    q.close();
    for (auto& t : threads) t.join();
    CHECK(pushed.load() == popped.load());
    CHECK(pushed_sum.load() == popped_sum.load());
  }
}

// Lost wake-ups. Each hand-off below finds its partner blocked (the queue
// holds 1 or 2 items and both threads wait on each other), so nearly every
// push and pop goes through the sleep / wake protocol; a wake-up lost there
// hangs a thread and the test fails at its ctest TIMEOUT.
TEST_CASE("no lost wake-up: items passed around a ring of threads through capacity 1 and 2, blocking and timed",
          "[bounded_queue][stress]") {
  // Four stages pass each item on; the test thread feeds the ring and takes
  // each item back before it sends the next, after a random 0-300 us of busy
  // work (a workload, not a synchronization: any length is correct). The
  // threads waiting meanwhile outlast their spin and yields at random points
  // and sleep, so most hand-offs cross the sleep / wake-up protocol.
  constexpr int stages = 4;
  const int items = 2000 * static_cast<int>(weft_test::stress_scale());
  for (std::size_t capacity : {std::size_t{1}, std::size_t{2}}) {
    for (bool timed : {false, true}) {
      std::vector<std::unique_ptr<weft::bounded_queue<int>>> ring;
      for (int i = 0; i <= stages; ++i) ring.push_back(std::make_unique<weft::bounded_queue<int>>(capacity));
      std::vector<std::thread> threads;
      for (int i = 0; i < stages; ++i)
        threads.emplace_back([&, i] {
          auto& in = *ring[static_cast<std::size_t>(i)];
          auto& out = *ring[static_cast<std::size_t>(i) + 1];
          // A timed wait that never expires takes the sleep path with a deadline.
          while (auto v = timed ? in.pop_for(std::chrono::hours(1)) : in.pop()) {
            if (timed) {
              THREAD_CHECK(out.try_push_for(int(*v), std::chrono::hours(1)));
            } else {
              out.push(*v);
            }
          }
          out.close();
        });
      int mismatches = 0;
      std::mt19937 rng(static_cast<unsigned>(capacity) * 2 + (timed ? 1 : 0));
      for (int i = 0; i < items; ++i) {
        const auto busy_until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 301);
        while (std::chrono::steady_clock::now() < busy_until) {
        }
        ring.front()->push(i);
        std::optional<int> v = ring.back()->pop();
        if (!v || *v != i) ++mismatches;
      }
      ring.front()->close();
      CHECK_FALSE(ring.back()->pop().has_value());  // closed and drained once the stages are done
      for (auto& t : threads) t.join();
      CHECK(mismatches == 0);
      CHECK_THREADS_OK();
    }
  }
}

TEST_CASE("no lost wake-up: close() races blocked pushers and poppers at capacity 1 and 2",
          "[bounded_queue][stress]") {
  const int rounds = 300 * static_cast<int>(weft_test::stress_scale());
  for (std::size_t capacity : {std::size_t{1}, std::size_t{2}}) {
    for (int round = 0; round < rounds; ++round) {
      weft::bounded_queue<int> q(capacity);
      std::atomic<int> received{0};
      std::atomic<int> accepted{0};
      const int close_after = round % 7;  // close after 0..6 deliveries
      std::thread producer([&] {
        try {
          for (int i = 0;; ++i) {
            q.push(i);  // blocks on the full queue; close() must wake it
            accepted.fetch_add(1);
          }
        } catch (const weft::queue_closed&) {
        }
      });
      std::thread consumer([&] {
        int expect = 0;
        while (auto v = q.pop()) {  // blocks on the empty queue; close() must wake it
          THREAD_CHECK(*v == expect);
          ++expect;
          received.fetch_add(1);
        }
      });
      // Wait for progress, not for time: close once the consumer has seen
      // close_after items, while the producer is blocked or about to be.
      REQUIRE(weft_test::eventually([&] { return received.load() >= close_after; }));
      q.close();
      producer.join();
      consumer.join();
      CHECK(accepted.load() == received.load());
      CHECK_THREADS_OK();
    }
  }
}

TEST_CASE("no lost wake-up: join() returns once the last item is marked done, at capacity 1 and 2",
          "[bounded_queue][stress]") {
  const int rounds = 300 * static_cast<int>(weft_test::stress_scale());
  for (std::size_t capacity : {std::size_t{1}, std::size_t{2}}) {
    for (int round = 0; round < rounds; ++round) {
      weft::bounded_queue<int> q(capacity);
      const int items = 1 + round % 5;
      int processed = 0;  // consumer only, read after join(): join() orders it
      std::thread consumer([&] {
        while (auto v = q.pop()) {
          ++processed;
          q.task_done();
        }
      });
      for (int i = 0; i < items; ++i) q.push(i);
      q.join();  // sleeps until the consumer's last task_done()
      CHECK(processed == items);
      q.close();
      consumer.join();
    }
  }
}
