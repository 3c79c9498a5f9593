// weft — MIT licence. See LICENSE.
// Tests for <weft/bounded_queue.hpp>: one TEST_CASE per DESIGN.md bullet.
#include <weft/bounded_queue.hpp>

#include "support.hpp"

#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

using weft::bounded_queue;
using namespace std::chrono_literals;

TEST_CASE("capacity 0 throws std::invalid_argument", "[bounded_queue]") {
  CHECK_THROWS_AS(bounded_queue<int>(0), std::invalid_argument);
  bounded_queue<int> one(1);
  CHECK(one.capacity() == 1);
}

TEST_CASE("single producer order is FIFO across many wrap-arounds", "[bounded_queue]") {
  for (std::size_t capacity : {1u, 3u, 4u, 7u, 64u}) {
    bounded_queue<int> q(capacity);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 200; ++round) {
      while (!q.full()) q.push(next_in++);
      CHECK(q.size() == capacity);
      for (std::size_t i = 0; i < capacity / 2 + 1; ++i) {
        auto v = q.pop();
        REQUIRE(v);
        REQUIRE(*v == next_out++);
      }
    }
    while (auto v = q.try_pop()) REQUIRE(*v == next_out++);
    CHECK(next_out == next_in);
    CHECK(q.empty());
  }
}

TEST_CASE("try_push fails when full and leaves the argument intact", "[bounded_queue]") {
  bounded_queue<std::unique_ptr<int>> q(2);
  CHECK(q.try_push(std::make_unique<int>(1)));
  CHECK(q.try_push(std::make_unique<int>(2)));
  auto third = std::make_unique<int>(3);
  CHECK_FALSE(q.try_push(std::move(third)));
  REQUIRE(third);  // not moved from on failure
  CHECK(*third == 3);
  CHECK(q.full());
  CHECK(**q.pop() == 1);
  CHECK(q.try_push(std::move(third)));
  CHECK_FALSE(third);  // moved from on success
  CHECK(**q.pop() == 2);
  CHECK(**q.pop() == 3);
}

TEST_CASE("try_pop returns nullopt on empty and an item while items are present",
          "[bounded_queue]") {
  bounded_queue<int> q(4);
  CHECK_FALSE(q.try_pop());
  q.push(7);
  q.push(8);
  // Anti-pattern from rigtorp #46 / moodycamel #265: try_pop must not fail
  // while items are present.
  for (int expected : {7, 8}) {
    auto v = q.try_pop();
    REQUIRE(v);
    CHECK(*v == expected);
  }
  CHECK_FALSE(q.try_pop());
}

TEST_CASE("move-only items pass through push, emplace and pop", "[bounded_queue]") {
  bounded_queue<std::unique_ptr<std::string>> q(3);
  q.push(std::make_unique<std::string>("a"));
  q.emplace(new std::string("b"));
  auto a = q.pop();
  auto b = q.pop();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(**a == "a");
  CHECK(**b == "b");
}

namespace {
struct sample {  // an aggregate: no constructor from its fields
  double x;
  int y;
};
struct named_sample {  // an aggregate whose field's construction may throw
  std::string name;
  int y;
};
}  // namespace

// clang 14 has no parenthesized aggregate initialization: emplace(2.0, 2) did not compile.
TEST_CASE("emplace builds an aggregate from its fields", "[bounded_queue]") {
  bounded_queue<sample> q(2);
  q.emplace(2.5, 2);
  auto s = q.pop();
  REQUIRE(s);
  CHECK(s->x == 2.5);
  CHECK(s->y == 2);
  bounded_queue<named_sample> named(2);
  named.emplace("ada", 3);
  auto n = named.pop();
  REQUIRE(n);
  CHECK(n->name == "ada");
  CHECK(n->y == 3);
}

TEST_CASE("pop blocks until an item arrives", "[bounded_queue]") {
  bounded_queue<int> q(4);
  std::atomic<bool> popped{false};
  std::optional<int> got;
  std::thread consumer([&] {
    got = q.pop();
    popped = true;
  });
  weft_test::let_others_run();
  CHECK_FALSE(popped.load());  // nothing to pop yet: must still be waiting
  q.push(42);
  consumer.join();
  REQUIRE(got);
  CHECK(*got == 42);
}

TEST_CASE("push blocks while full and resumes after a pop", "[bounded_queue]") {
  bounded_queue<int> q(1);
  q.push(1);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.push(2);
    pushed = true;
  });
  weft_test::let_others_run();
  CHECK_FALSE(pushed.load());  // full: must still be waiting
  CHECK(q.size() == 1);
  CHECK(*q.pop() == 1);
  producer.join();
  CHECK(pushed.load());
  CHECK(*q.pop() == 2);
}

TEST_CASE("close wakes every blocked consumer with nullopt", "[bounded_queue]") {
  bounded_queue<int> q(4);
  constexpr int consumers = 6;
  std::atomic<int> woke{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < consumers; ++i)
    threads.emplace_back([&] {
      auto v = q.pop();
      THREAD_CHECK(!v);
      woke.fetch_add(1);
    });
  weft_test::let_others_run();
  q.close();
  for (auto& t : threads) t.join();
  CHECK(woke == consumers);
  CHECK(q.closed());
  CHECK_THREADS_OK();
}

TEST_CASE("close wakes blocked producers with queue_closed and keeps queued items",
          "[bounded_queue]") {
  bounded_queue<int> q(2);
  q.push(1);
  q.push(2);
  constexpr int producers = 5;
  std::atomic<int> refused{0}, accepted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < producers; ++i)
    threads.emplace_back([&, i] {
      try {
        q.push(100 + i);
        accepted.fetch_add(1);
      } catch (const weft::queue_closed&) {
        refused.fetch_add(1);
      }
    });
  weft_test::let_others_run();
  q.close();
  for (auto& t : threads) t.join();
  CHECK(refused == producers);  // the queue stayed full, so none could get in
  CHECK(accepted == 0);
  CHECK(*q.pop() == 1);  // items queued before close are still delivered
  CHECK(*q.pop() == 2);
  CHECK_FALSE(q.pop());  // closed and drained
  CHECK_FALSE(q.try_pop());
}

TEST_CASE("push, emplace and try_push after close throw queue_closed", "[bounded_queue]") {
  bounded_queue<int> q(4);
  q.push(1);
  q.close();
  q.close();  // idempotent
  CHECK_THROWS_AS(q.push(2), weft::queue_closed);
  CHECK_THROWS_AS(q.emplace(3), weft::queue_closed);
  CHECK_THROWS_AS(q.try_push(4), weft::queue_closed);
  CHECK_THROWS_AS(q.try_push_for(5, 1ms), weft::queue_closed);
  CHECK(q.size() == 1);
  CHECK(*q.pop() == 1);
  CHECK_FALSE(q.pop());
  CHECK_FALSE(q.pop_for(1ms));
}

TEST_CASE("timed operations return after their timeout", "[bounded_queue]") {
  bounded_queue<int> q(1);
  CHECK_FALSE(q.pop_for(20ms));  // empty: times out (returns at all = no hang)
  CHECK_FALSE(q.pop_until(std::chrono::system_clock::now() + 5ms));
  q.push(1);
  CHECK_FALSE(q.try_push_for(2, 20ms));  // full: times out
  CHECK_FALSE(q.try_push_until(3, std::chrono::steady_clock::now() + 5ms));
  CHECK(q.size() == 1);
  CHECK(*q.pop_for(1h) == 1);  // an item present: returns it at once
}

TEST_CASE("pop_for returns an item pushed while it waits", "[bounded_queue]") {
  bounded_queue<int> q(2);
  std::optional<int> got;
  std::thread consumer([&] { got = q.pop_for(weft_test::hang_limit); });
  weft_test::let_others_run();
  q.push(9);
  consumer.join();
  REQUIRE(got);
  CHECK(*got == 9);
}

TEST_CASE("try_push_for succeeds when a consumer makes room", "[bounded_queue]") {
  bounded_queue<int> q(1);
  q.push(1);
  std::thread consumer([&] {
    weft_test::let_others_run();
    THREAD_CHECK(*q.pop() == 1);
  });
  bool pushed = q.try_push_for(2, weft_test::hang_limit);
  consumer.join();
  CHECK(pushed);
  CHECK_THREADS_OK();
  CHECK(*q.pop() == 2);
}

TEST_CASE("task_done more often than pops throws std::logic_error", "[bounded_queue]") {
  bounded_queue<int> q(4);
  CHECK_THROWS_AS(q.task_done(), std::logic_error);
  q.push(1);
  CHECK_THROWS_AS(q.task_done(), std::logic_error);  // pushed but not popped
  q.pop();
  q.task_done();
  CHECK_THROWS_AS(q.task_done(), std::logic_error);
  q.join();  // everything done: returns at once
}

TEST_CASE("join waits until every pushed item is marked done", "[bounded_queue]") {
  bounded_queue<int> q(8);
  constexpr int items = 2000;
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w)
    workers.emplace_back([&] {
      for (int& v : q.consume()) {
        (void)v;
        processed.fetch_add(1);
        q.task_done();
      }
    });
  for (int i = 0; i < items; ++i) q.push(i);
  q.join();
  // join() returned: every task_done() happened before, so every item counted.
  CHECK(processed.load() == items);
  q.close();
  for (auto& t : workers) t.join();
}

TEST_CASE("consume() ends when the queue is closed and drained", "[bounded_queue]") {
  bounded_queue<std::unique_ptr<int>> q(3);
  std::vector<int> seen;
  std::thread consumer([&] {
    for (auto& p : q.consume()) seen.push_back(*p);
  });
  for (int i = 0; i < 10; ++i) q.push(std::make_unique<int>(i));
  q.close();
  consumer.join();
  std::vector<int> expected(10);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(seen == expected);
}

namespace {
struct fussy {
  static inline std::atomic<long> live{0};
  int value;
  explicit fussy(int v) : value(v) {
    if (v < 0) throw std::runtime_error("negative");
    live.fetch_add(1);
  }
  fussy(fussy&& o) noexcept : value(o.value) { live.fetch_add(1); }
  ~fussy() { live.fetch_sub(1); }
};
}  // namespace

TEST_CASE("a throwing item constructor leaves the queue consistent", "[bounded_queue]") {
  {
    bounded_queue<fussy> q(2);
    q.emplace(1);
    CHECK_THROWS_AS(q.emplace(-1), std::runtime_error);
    q.emplace(2);
    CHECK_THROWS_AS(q.emplace(-2), std::runtime_error);
    CHECK(q.size() <= 2);
    auto a = q.pop();
    auto b = q.pop();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->value == 1);
    CHECK(b->value == 2);
    CHECK_FALSE(q.try_pop());
    q.emplace(3);  // the ring still works after voided rounds
    CHECK(q.pop()->value == 3);
    q.emplace(4);
  }
  CHECK(fussy::live == 0);  // item 4 destroyed by the queue's destructor
}

TEST_CASE("destructor destroys the items still queued", "[bounded_queue]") {
  using weft_test::tracked;
  {
    bounded_queue<tracked> q(5);
    for (int i = 0; i < 4; ++i) q.emplace(i);
    q.pop();
    CHECK(tracked::live == 3);
  }
  CHECK(tracked::live == 0);
}

TEST_CASE("size, empty and full are consistent snapshots", "[bounded_queue]") {
  bounded_queue<int> q(3);
  CHECK(q.empty());
  CHECK_FALSE(q.full());
  q.push(1);
  CHECK(q.size() == 1);
  q.push(2);
  q.push(3);
  CHECK(q.full());
  CHECK(q.size() == 3);
  q.close();
  CHECK(q.size() == 3);
  q.pop();
  CHECK(q.size() == 2);
}

namespace {
struct alignas(128) wide_item {
  static inline std::atomic<int> misaligned_sources{0};
  int value = 0;
  explicit wide_item(int v) : value(v) {}
  // The queue moves items out of its slots: check the slot's address.
  wide_item(wide_item&& o) noexcept : value(o.value) {
    if (reinterpret_cast<std::uintptr_t>(&o) % 128 != 0) misaligned_sources++;
  }
};
}  // namespace

TEST_CASE("items aligned beyond a cache line are stored at their alignment", "[bounded_queue]") {
  weft::bounded_queue<wide_item> q(3);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 3; ++i) q.push(wide_item{i});
    for (int i = 0; i < 3; ++i) CHECK(q.pop()->value == i);
  }
  CHECK(wide_item::misaligned_sources == 0);
}
