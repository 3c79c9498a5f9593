// weft — MIT licence. See LICENSE.
// Fault injection for bounded_queue: close while both sides are blocked,
// item constructors and moves that throw under concurrency. Element types
// count live instances, so leaks and double destruction show.
#include <weft/bounded_queue.hpp>

#include "support.hpp"

#include <string>

namespace {

// Throws from its converting constructor for multiples of 7, and from its
// move constructor when asked to.
struct brittle {
  static inline std::atomic<long> live{0};
  int value;
  bool throw_on_move = false;
  explicit brittle(int v, bool move_throws = false) : value(v), throw_on_move(move_throws) {
    if (v % 7 == 0) throw std::runtime_error("constructor refused");
    live.fetch_add(1);
  }
  brittle(brittle&& o) : value(o.value), throw_on_move(o.throw_on_move) {
    if (throw_on_move) throw std::runtime_error("move refused");
    live.fetch_add(1);
  }
  ~brittle() { live.fetch_sub(1); }
};

}  // namespace

TEST_CASE("close while producers and consumers are both blocked", "[bounded_queue][fault]") {
  for (int trial = 0; trial < 50; ++trial) {
    weft::bounded_queue<int> full_q(1), empty_q(1);
    full_q.push(0);
    std::atomic<int> producers_out{0}, consumers_out{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] {
        THREAD_CHECK_THROWS_AS(full_q.push(1), weft::queue_closed);
        producers_out++;
      });
      threads.emplace_back([&] {
        THREAD_CHECK(!empty_q.pop());
        consumers_out++;
      });
    }
    if (trial % 2) weft_test::let_others_run();  // sometimes close before they block
    full_q.close();
    empty_q.close();
    for (auto& t : threads) t.join();
    CHECK_THREADS_OK();
    CHECK(producers_out == 3);
    CHECK(consumers_out == 3);
    CHECK(*full_q.pop() == 0);
    CHECK_FALSE(full_q.pop());
  }
}

TEST_CASE("throwing constructors under concurrency lose nothing and leak nothing",
          "[bounded_queue][fault]") {
  {
    weft::bounded_queue<brittle> q(4);
    std::atomic<long> accepted{0}, refused{0}, received{0};
    std::thread consumer([&] {
      while (auto item = q.pop()) {
        THREAD_CHECK(item->value % 7 != 0);
        received++;
      }
    });
    weft_test::run_threads(3, [&](int id) {
      for (int i = 1; i <= 7000; ++i) {
        try {
          q.emplace(i * 3 + id);
          accepted++;
        } catch (const std::runtime_error&) {
          refused++;
        }
      }
    });
    q.close();
    consumer.join();
    CHECK_THREADS_OK();
    CHECK(received.load() == accepted.load());
    CHECK(refused.load() > 0);
    CHECK(accepted.load() + refused.load() == 21000);
  }
  CHECK(brittle::live == 0);
}

TEST_CASE("a throwing move in pop destroys the item and join still returns",
          "[bounded_queue][fault]") {
  {
    weft::bounded_queue<brittle> q(4);
    q.emplace(1, true);  // in place: no move on the way in
    q.emplace(2);
    CHECK_THROWS_AS(q.pop(), std::runtime_error);
    auto second = q.pop();
    REQUIRE(second);
    CHECK(second->value == 2);
    q.task_done();
    q.join();  // the lost item counts as done: no hang
    CHECK_THROWS_AS(q.task_done(), std::logic_error);
  }
  CHECK(brittle::live == 0);
}

namespace {
// An item whose move constructor, when armed, parks the moving thread on a
// gate: a consumer "stalled at the worst moment", in the middle of pop().
struct stalling {
  static inline std::atomic<bool> armed{false};
  static inline std::atomic<bool> stalled{false};
  static inline weft_test::gate* release = nullptr;
  int value;
  explicit stalling(int v) : value(v) {}
  stalling(stalling&& o) noexcept : value(o.value) {
    if (armed.exchange(false)) {
      stalled = true;
      release->wait();
    }
  }
};

// Runs `work` on a thread whose next move of a `stalling` item parks on
// `release`; returns that thread once it is parked.
template <class Work>
std::thread stall_in_next_move(weft_test::gate& release, Work work) {
  stalling::release = &release;
  stalling::stalled = false;
  stalling::armed = true;
  std::thread worker(std::move(work));
  REQUIRE(weft_test::eventually([] { return stalling::stalled.load(); }));
  return worker;
}

// One item in a capacity-1 queue, popped by a consumer that stalls inside
// the item's move; returns that consumer's thread.
std::thread stall_a_consumer(weft::bounded_queue<stalling>& q, weft_test::gate& release) {
  q.push(stalling(1));
  return stall_in_next_move(release, [&q] { THREAD_CHECK(q.pop()->value == 1); });
}
}  // namespace

TEST_CASE("try_pop and pop_for never wait for a producer blocked behind a stalled consumer",
          "[bounded_queue][fault]") {
  weft::bounded_queue<stalling> q(1);
  weft_test::gate release;
  std::thread consumer = stall_a_consumer(q, release);
  // This producer's slot is still held by the stalled consumer: it blocks.
  std::thread producer([&q] { q.push(stalling(2)); });
  REQUIRE(weft_test::eventually([&] { return q.size() == 1; }));  // it holds its ticket
  weft_test::finishes("try_pop with a stalled consumer", [&] { CHECK_FALSE(q.try_pop().has_value()); },
                      std::chrono::seconds(10));
  weft_test::finishes("pop_for(10ms) with a stalled consumer",
                      [&] { CHECK_FALSE(q.pop_for(std::chrono::milliseconds(10)).has_value()); },
                      std::chrono::seconds(10));
  release.open();
  consumer.join();
  producer.join();
  CHECK(q.pop()->value == 2);
  CHECK_THREADS_OK();
}

TEST_CASE("try_push and try_push_for never wait for a stalled consumer", "[bounded_queue][fault]") {
  weft::bounded_queue<stalling> q(1);
  weft_test::gate release;
  std::thread consumer = stall_a_consumer(q, release);
  weft_test::finishes("try_push with a stalled consumer", [&] {
    stalling s(3);
    CHECK_FALSE(q.try_push(std::move(s)));
  }, std::chrono::seconds(10));
  weft_test::finishes("try_push_for(10ms) with a stalled consumer", [&] {
    CHECK_FALSE(q.try_push_for(stalling(4), std::chrono::milliseconds(10)));
  }, std::chrono::seconds(10));
  release.open();
  consumer.join();
  CHECK(q.try_push(stalling(5)));
  CHECK(q.pop()->value == 5);
  CHECK_THREADS_OK();
}

TEST_CASE("after close, try_pop and pop_for never wait for a producer stalled mid-push",
          "[bounded_queue][fault]") {
  weft::bounded_queue<stalling> q(4);
  weft_test::gate release;
  // The producer stalls moving its item into the slot.
  std::thread producer = stall_in_next_move(release, [&q] { q.push(stalling(7)); });
  q.close();
  weft_test::finishes("try_pop after close, producer stalled", [&] { CHECK_FALSE(q.try_pop().has_value()); },
                      std::chrono::seconds(10));
  weft_test::finishes("pop_for(10ms) after close, producer stalled",
                      [&] { CHECK_FALSE(q.pop_for(std::chrono::milliseconds(10)).has_value()); },
                      std::chrono::seconds(10));
  release.open();
  producer.join();
  CHECK(q.pop()->value == 7);  // its push began before close(): delivered
  CHECK_FALSE(q.pop().has_value());
  CHECK_THREADS_OK();
}

namespace {
// A type without a noexcept move (a user-declared destructor suppresses the
// implicit move; the std::string member's copy may throw), so emplace()
// constructs it in its slot and a throw voids that slot's round.
struct no_nothrow_move {
  std::string text;
  explicit no_nothrow_move(int v) : text(std::to_string(v)) {
    if (v < 0) throw std::runtime_error("constructor refused");
  }
  ~no_nothrow_move() {}
};
static_assert(!std::is_nothrow_move_constructible_v<no_nothrow_move>);
}  // namespace

TEST_CASE("after a throwing emplace, try_pop and pop_for still see every later item (hidden items)",
          "[bounded_queue][fault]") {
  constexpr int capacity = 4;
  constexpr int items = 100;
  weft::bounded_queue<no_nothrow_move> q(capacity);
  CHECK_THROWS_AS(q.emplace(-1), std::runtime_error);  // voids round 0 of slot 0
  std::atomic<int> received{0};
  std::thread consumer([&] {
    // pop_for only: a consumer that never takes a blocking pop() ticket.
    // Each item arrives well within the hang limit when nothing hides it.
    while (received.load() < items) {
      auto item = q.pop_for(weft_test::hang_limit);
      if (!item) break;  // timed out: an item stayed hidden
      THREAD_CHECK(item->text == std::to_string(received.load()));
      received.fetch_add(1);
    }
  });
  for (int i = 0; i < items; ++i) {
    // The producer would block for good once the ring looked full.
    if (!q.try_push_for(no_nothrow_move(i), weft_test::hang_limit)) {
      FAIL_CHECK("the producer found the queue full for good at item " << i);
      q.close();  // lets the consumer's pop_for end
      break;
    }
  }
  consumer.join();
  CHECK_THREADS_OK();
  CHECK(received.load() == items);
  CHECK_FALSE(q.try_pop());
}

TEST_CASE("try_pop sees an item queued behind a round voided by a throwing emplace", "[bounded_queue][fault]") {
  weft::bounded_queue<no_nothrow_move> q(1);
  CHECK_THROWS_AS(q.emplace(-1), std::runtime_error);  // round 0 voided
  q.emplace(1);                                         // round 1 of the same slot
  auto item = q.try_pop();
  REQUIRE(item);
  CHECK(item->text == "1");
}

TEST_CASE("size() counts items, not rounds voided by a throwing emplace", "[bounded_queue][fault]") {
  weft::bounded_queue<no_nothrow_move> q(1);
  CHECK_THROWS_AS(q.emplace(-1), std::runtime_error);
  CHECK(q.size() == 0);
  CHECK(q.empty());
  CHECK_FALSE(q.full());
  q.emplace(2);
  CHECK(q.size() == 1);
  CHECK(q.pop()->text == "2");
  CHECK(q.size() == 0);
}
