// weft — MIT licence. See LICENSE.
// Fault injection for bounded_queue: close while both sides are blocked,
// item constructors and moves that throw under concurrency. Element types
// count live instances, so leaks and double destruction show.
#include <weft/bounded_queue.hpp>

#include "support.hpp"

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
