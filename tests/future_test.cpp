// weft — MIT licence. See LICENSE.
// Tests for <weft/future.hpp>, driven through a thread_pool.
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <array>
#include <forward_list>
#include <list>
#include <set>
#include <string>

using namespace std::chrono_literals;
using weft::future;
using weft::thread_pool;

TEST_CASE("get returns the value, rethrows the exception, and leaves no state", "[future]") {
  thread_pool pool(2);
  auto answer = pool.submit([] { return 42; });
  CHECK(answer.valid());
  CHECK(answer.get() == 42);
  CHECK_FALSE(answer.valid());
  CHECK_THROWS_AS(answer.get(), std::future_error);

  auto text = pool.submit([](std::string a, std::string b) { return a + b; }, "we", std::string("ft"));
  CHECK(text.get() == "weft");

  auto failing = pool.submit([]() -> int { throw std::out_of_range("nope"); });
  failing.wait();
  CHECK(failing.ready());
  CHECK(failing.exception() != nullptr);
  CHECK_THROWS_AS(failing.get(), std::out_of_range);

  future<void> nothing = pool.submit([] {});
  nothing.get();
  CHECK_FALSE(nothing.valid());
}

TEST_CASE("a future without state throws std::future_error", "[future]") {
  future<int> empty;
  CHECK_FALSE(empty.valid());
  CHECK_THROWS_AS(empty.wait(), std::future_error);
  CHECK_THROWS_AS(empty.ready(), std::future_error);
  CHECK_THROWS_AS(empty.cancel(), std::future_error);
  thread_pool pool(1);
  auto f = pool.submit([] { return 1; });
  future<int> g = std::move(f);
  CHECK_FALSE(f.valid());  // moved-from
  CHECK(g.get() == 1);
}

TEST_CASE("wait_for and wait_until report timeout, then ready", "[future]") {
  thread_pool pool(1);
  weft_test::gate gate;
  auto f = pool.submit([&] { gate.wait(); return 7; });
  CHECK(f.wait_for(10ms) == std::future_status::timeout);
  CHECK(f.wait_until(std::chrono::system_clock::now() + 5ms) == std::future_status::timeout);
  CHECK_FALSE(f.ready());
  gate.open();
  CHECK(f.wait_for(weft_test::hang_limit) == std::future_status::ready);
  CHECK(f.get() == 7);
}

TEST_CASE("cancel before start: true, waiters wake, get throws cancelled, task never runs",
          "[future]") {
  thread_pool pool(1);
  weft_test::gate gate;
  auto blocker = pool.submit([&] { gate.wait(); });
  std::atomic<bool> ran{false};
  auto victim = pool.submit([&] { ran = true; return 1; });
  std::atomic<bool> waiter_woke{false};
  std::thread waiter([&] {
    victim.wait();
    waiter_woke = true;
  });
  CHECK(victim.cancel());
  CHECK(victim.cancel());  // already cancelled: still true
  waiter.join();
  CHECK(waiter_woke.load());
  CHECK(victim.cancelled());
  CHECK(victim.ready());
  CHECK_THROWS_AS(victim.exception(), weft::cancelled);
  CHECK_THROWS_AS(victim.get(), weft::cancelled);
  gate.open();
  blocker.get();
  pool.wait();
  CHECK_FALSE(ran.load());
}

TEST_CASE("cancel after start or after completion returns false", "[future]") {
  thread_pool pool(1);
  weft_test::gate gate;
  std::atomic<bool> started{false};
  auto running = pool.submit([&] { started = true; gate.wait(); return 5; });
  REQUIRE(weft_test::eventually([&] { return started.load(); }));
  CHECK_FALSE(running.cancel());
  gate.open();
  CHECK(running.get() == 5);
  auto done = pool.submit([] { return 6; });
  done.wait();
  CHECK_FALSE(done.cancel());
  CHECK_FALSE(done.cancelled());
  CHECK(done.get() == 6);
}

TEST_CASE("add_done_callback: at once when done, else on completion, in order", "[future]") {
  thread_pool pool(1);
  weft_test::gate gate;
  auto f = pool.submit([&] { gate.wait(); return 1; });
  std::vector<int> order;  // written by the completing thread, read after get()
  std::mutex order_mutex;
  f.add_done_callback([&] { std::lock_guard l(order_mutex); order.push_back(1); });
  f.add_done_callback([&] { std::lock_guard l(order_mutex); order.push_back(2); });
  gate.open();
  f.wait();
  bool ran_here = false;
  f.add_done_callback([&] { ran_here = true; });  // already done: runs now, here
  CHECK(ran_here);
  // The earlier callbacks run on the completing thread, possibly after wait()
  // returned; they run in registration order.
  REQUIRE(weft_test::eventually([&] {
    std::lock_guard l(order_mutex);
    return order.size() == 2;
  }));
  std::lock_guard l(order_mutex);
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("a throwing done callback is reported and does not stop the others", "[future]") {
  thread_pool pool(1);
  weft_test::gate gate;
  auto f = pool.submit([&] { gate.wait(); });
  std::atomic<int> after{0};
  f.add_done_callback([] { throw std::runtime_error("callback failed (expected in this test)"); });
  f.add_done_callback([&] { after++; });
  gate.open();
  f.get();
  pool.wait();
  CHECK(after == 1);
}

TEST_CASE("done callbacks added from many threads run exactly once each", "[future]") {
  for (int trial = 0; trial < 20; ++trial) {
    thread_pool pool(1);
    weft_test::gate gate;
    auto f = pool.submit([&] { gate.wait(); });
    std::atomic<int> calls{0};
    constexpr int threads = 6, per_thread = 200;
    std::vector<std::thread> adders;
    for (int t = 0; t < threads; ++t)
      adders.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) f.add_done_callback([&] { calls++; });
      });
    gate.open();  // completion races with the adders
    for (auto& a : adders) a.join();
    f.wait();
    pool.wait();
    CHECK(calls == threads * per_thread);
  }
}

TEST_CASE("as_completed yields futures in completion order", "[future]") {
  thread_pool pool(3);
  std::vector<weft_test::gate> gates(3);
  std::vector<future<int>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(pool.submit([&gates, i] { gates[i].wait(); return i * 10; }));
  std::atomic<int> consumed{0};
  std::thread releaser([&] {
    int step = 0;
    for (int i : {2, 0, 1}) {
      // Release the next task only after the previous one was yielded.
      weft_test::eventually([&] { return consumed.load() == step; });
      gates[i].open();
      ++step;
    }
  });
  std::vector<int> seen;
  std::vector<std::size_t> indices;
  auto completed = weft::as_completed(futures);
  for (auto it = completed.begin(); it != completed.end(); ++it) {
    seen.push_back(it->get());
    indices.push_back(it.index());
    consumed++;
  }
  releaser.join();
  CHECK(seen == std::vector<int>{20, 0, 10});
  CHECK(indices == std::vector<std::size_t>{2, 0, 1});
}

TEST_CASE("as_completed with a timeout throws weft::timeout", "[future]") {
  thread_pool pool(2);
  weft_test::gate gate;
  std::vector<future<int>> futures;
  futures.push_back(pool.submit([] { return 1; }));
  futures.push_back(pool.submit([&] { gate.wait(); return 2; }));
  futures[0].wait();  // done before the deadline starts, however loaded the machine
  int got = 0;
  CHECK_THROWS_AS(
      [&] {
        for (auto& f : weft::as_completed(futures, 30ms)) got += f.get();
      }(),
      weft::timeout);
  CHECK(got == 1);
  gate.open();
}

TEST_CASE("wait: first_completed, first_exception, all_completed, timeout", "[future]") {
  thread_pool pool(3);
  weft_test::gate slow;
  std::vector<future<int>> futures;
  futures.push_back(pool.submit([&] { slow.wait(); return 0; }));
  futures.push_back(pool.submit([]() -> int { throw std::runtime_error("x"); }));
  futures.push_back(pool.submit([] { return 2; }));

  auto first = weft::wait(futures, weft::return_when::first_completed);
  CHECK_FALSE(first.done.empty());

  auto exc = weft::wait(futures, weft::return_when::first_exception);
  CHECK(std::find(exc.done.begin(), exc.done.end(), 1u) != exc.done.end());
  CHECK(std::find(exc.not_done.begin(), exc.not_done.end(), 0u) != exc.not_done.end());
  futures[2].wait();

  auto timed = weft::wait(futures, weft::return_when::all_completed, 20ms);
  CHECK(timed.not_done == std::vector<std::size_t>{0});

  slow.open();
  auto all = weft::wait(futures, weft::return_when::all_completed);
  CHECK(all.done == std::vector<std::size_t>{0, 1, 2});
  CHECK(all.not_done.empty());
}

TEST_CASE("as_completed, wait and when_any take any forward range of futures (std::list, std::forward_list)",
          "[future]") {
  thread_pool pool(2);
  std::list<future<int>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(pool.submit([i] { return i; }));
  int sum = 0;
  std::set<std::size_t> indices;
  auto completed = weft::as_completed(futures);
  for (auto it = completed.begin(); it != completed.end(); ++it) {
    indices.insert(it.index());
    sum += it->get();
  }
  CHECK(sum == 10);
  CHECK(indices.size() == 5);

  std::forward_list<future<int>> more;
  for (int i = 0; i < 3; ++i) more.push_front(pool.submit([i] { return i; }));
  auto all = weft::wait(more);
  CHECK(all.done == std::vector<std::size_t>{0, 1, 2});
  CHECK(weft::when_any(more).get() < 3);
  sum = 0;
  for (auto& f : weft::as_completed(more, 10s)) sum += f.get();
  CHECK(sum == 3);
}

TEST_CASE("as_completed: futures pushed onto the vector during the loop leave the futures it visits intact",
          "[future]") {
  // The new ones are not visited (the range's size was taken at the call);
  // a vector that reallocates must not leave the loop reading moved-from memory.
  thread_pool pool(2);
  std::vector<future<int>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(pool.submit([i] { return i; }));
  int sum = 0, visited = 0;
  for (auto& f : weft::as_completed(futures)) {
    sum += f.get();
    ++visited;
    if (futures.size() < 40) futures.push_back(pool.submit([] { return 100; }));  // reallocates on the way
  }
  CHECK(visited == 4);
  CHECK(sum == 6);
  for (std::size_t i = 4; i < futures.size(); ++i) CHECK(futures[i].get() == 100);
}

TEST_CASE("wait_result's members take a std::vector of indices, as they did when they were vectors", "[future]") {
  std::vector<std::size_t> mine{0, 1};
  weft::wait_result r;
  r.done = mine;
  r.not_done = std::vector<std::size_t>{2};
  CHECK(r.done.contains(1));
  CHECK(r.not_done == std::vector<std::size_t>{2});
  weft::wait_result built{mine, {}};
  CHECK(built.done == mine);
  CHECK(built.not_done.empty());
}

TEST_CASE("wait's done and not_done answer as index sets do, and compare to vectors and sets", "[future]") {
  thread_pool pool(2);
  weft_test::gate slow;
  std::vector<future<int>> futures;
  futures.push_back(pool.submit([] { return 0; }));
  futures.push_back(pool.submit([&] { slow.wait(); return 1; }));
  futures[0].wait();
  auto r = weft::wait(futures, weft::return_when::first_completed);
  CHECK(r.done.contains(0));
  CHECK(r.done.count(0) == 1);
  CHECK(r.done.count(1) == 0);
  CHECK(r.not_done.contains(1));
  CHECK(r.done == std::vector<std::size_t>{0});
  CHECK(r.not_done == std::set<std::size_t>{1});
  CHECK_FALSE(r.not_done == std::set<std::size_t>{0});
  std::vector<std::size_t> copied = r.done;  // still a vector of indices
  CHECK(copied.size() == 1);
  slow.open();
}

TEST_CASE("wait first_exception treats a cancelled future as done, not failed", "[future]") {
  thread_pool pool(1);
  weft_test::gate gate;
  auto blocker = pool.submit([&] { gate.wait(); return 0; });
  std::vector<future<int>> futures;
  futures.push_back(pool.submit([] { return 1; }));
  futures.push_back(pool.submit([] { return 2; }));
  CHECK(futures[0].cancel());
  auto r = weft::wait(futures, weft::return_when::first_exception, 20ms);
  CHECK(r.done == std::vector<std::size_t>{0});  // cancelled: done, but no exception to stop at
  CHECK(r.not_done == std::vector<std::size_t>{1});
  gate.open();
  CHECK(blocker.get() == 0);
}

TEST_CASE("when_all gathers values in input order; the first failure wins", "[future]") {
  thread_pool pool(2);
  std::vector<future<int>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(pool.submit([i] { return i * i; }));
  auto all = weft::when_all(std::move(futures)).get();
  REQUIRE(all.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(all[i] == i * i);

  std::vector<future<int>> mixed;
  mixed.push_back(pool.submit([] { return 1; }));
  mixed.push_back(pool.submit([]() -> int { throw std::invalid_argument("first"); }));
  mixed.push_back(pool.submit([]() -> int { throw std::out_of_range("second"); }));
  CHECK_THROWS_AS(weft::when_all(std::move(mixed)).get(), std::invalid_argument);

  auto tuple = weft::when_all(pool.submit([] { return 1; }), pool.submit([] { return std::string("a"); }),
                              pool.submit([] {}))
                   .get();
  CHECK(std::get<0>(tuple) == 1);
  CHECK(std::get<1>(tuple) == "a");

  // helper-30: the tuple form rethrew the last failure (its results were
  // taken in an unspecified order, right to left with GCC).
  CHECK_THROWS_AS(weft::when_all(pool.submit([]() -> int { throw std::invalid_argument("first"); }),
                                 pool.submit([]() -> std::string { throw std::out_of_range("second"); }))
                      .get(),
                  std::invalid_argument);

  std::vector<future<void>> voids;
  voids.push_back(pool.submit([] {}));
  weft::when_all(std::move(voids)).get();
  weft::when_all(std::vector<future<void>>{}).get();  // empty: ready at once
}

TEST_CASE("when_all takes what when_any takes: named futures, mixed, a list, an array", "[future]") {
  // helper-27: when_all(f1, f2) with named futures, a std::list and a
  // std::array did not compile (when_any, wait and as_completed take them).
  // when_all consumes its inputs: named ones are left empty (not valid()).
  thread_pool pool(2);
  auto f1 = pool.submit([] { return 1; });
  auto f2 = pool.submit([] { return std::string("two"); });
  auto named = weft::when_all(f1, f2).get();
  CHECK(std::get<0>(named) == 1);
  CHECK(std::get<1>(named) == "two");
  CHECK(!f1.valid());
  CHECK(!f2.valid());

  auto f3 = pool.submit([] { return 3; });
  auto mixed = weft::when_all(f3, pool.submit([] {})).get();
  CHECK(std::get<0>(mixed) == 3);

  std::list<future<int>> list;
  for (int i = 0; i < 5; ++i) list.push_back(pool.submit([i] { return i; }));
  CHECK(weft::when_all(list).get() == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(!list.front().valid());

  std::array<future<int>, 2> array{pool.submit([] { return 5; }), pool.submit([] { return 6; })};
  CHECK(weft::when_all(array).get() == std::vector<int>{5, 6});
  CHECK(weft::when_all(std::array<future<int>, 1>{pool.submit([] { return 7; })}).get() == std::vector<int>{7});

  std::vector<future<int>> named_vector;
  named_vector.push_back(pool.submit([] { return 8; }));
  CHECK(weft::when_all(named_vector).get() == std::vector<int>{8});
  CHECK(named_vector.empty());  // the vector form moves the whole vector out, as before
}

TEST_CASE("seed: a task with a timeout", "[future][seed]") {
  thread_pool pool(2);
  weft_test::gate never_in_time;
  std::atomic<bool> started{false};
  auto slow = pool.submit([&] {
    started.store(true);
    never_in_time.wait();
    return 1;
  });
  REQUIRE(weft_test::eventually([&] { return started.load(); }));  // running, however loaded the machine
  // asyncio.wait_for(task, timeout): give up waiting, then cancel or abandon.
  bool timed_out = slow.wait_for(20ms) == std::future_status::timeout;
  CHECK(timed_out);
  CHECK_FALSE(slow.cancel());  // already running: cannot be cancelled, only abandoned
  never_in_time.open();
  CHECK(slow.get() == 1);
}

TEST_CASE("seed: a gather with an overall timeout cancels what did not finish",
          "[future][seed]") {
  thread_pool pool(1);
  weft_test::gate stuck;
  std::vector<future<int>> jobs;
  jobs.push_back(pool.submit([] { return 1; }));
  jobs.push_back(pool.submit([&] { stuck.wait(); return 2; }));
  jobs.push_back(pool.submit([] { return 3; }));  // queued behind the stuck one
  auto r = weft::wait(jobs, weft::return_when::all_completed, 30ms);
  CHECK(r.done == std::vector<std::size_t>{0});
  for (auto i : r.not_done) jobs[i].cancel();
  CHECK(jobs[2].cancelled());
  CHECK_FALSE(jobs[1].cancelled());  // running: it finishes on its own
  stuck.open();
  CHECK(jobs[1].get() == 2);
}

TEST_CASE("seed: a race that cancels the losers", "[future][seed]") {
  thread_pool pool(1);
  weft_test::gate hold, park;
  std::atomic<int> losers_ran{0};
  std::vector<future<std::string>> racers;
  racers.push_back(pool.submit([&] { hold.wait(); return std::string("fast"); }));
  auto parked = pool.submit([&] { park.wait(); });  // keeps the worker busy after the winner
  racers.push_back(pool.submit([&] { losers_ran++; return std::string("slow"); }));
  racers.push_back(pool.submit([&] { losers_ran++; return std::string("slower"); }));
  auto winner = weft::when_any(racers);
  hold.open();
  std::size_t w = winner.get();
  CHECK(w == 0);
  for (std::size_t i = 0; i < racers.size(); ++i)
    if (i != w) CHECK(racers[i].cancel());  // not started: cancelled for sure
  CHECK(racers[0].get() == "fast");
  park.open();
  parked.get();
  pool.wait();
  CHECK(losers_ran == 0);
  CHECK(racers[1].cancelled());
  CHECK(racers[2].cancelled());

  auto f1 = pool.submit([] { return 1; });
  auto f2 = pool.submit([] { return 2.5; });
  CHECK(weft::when_any(f1, f2).get() <= 1);
  // Temporaries: the race still reports a winner.
  CHECK(weft::when_any(pool.submit([] { return 1; }), pool.submit([] {})).get() <= 1);
  std::vector<future<int>> owned;
  owned.push_back(pool.submit([] { return 3; }));
  CHECK(weft::when_any(std::move(owned)).get() == 0);
}

TEST_CASE("get twice says that the result was already taken", "[future]") {
  weft::thread_pool pool(1);
  auto f = pool.submit([] { return 1; });
  CHECK(f.get() == 1);
  try {
    f.get();
    FAIL("second get() did not throw");
  } catch (const std::future_error& e) {
    CHECK(e.code() == std::future_errc::no_state);
    CHECK(std::string(e.what()).find("already") != std::string::npos);
  }
}

namespace {
// A capture that records, as it is destroyed, whether the future it
// belongs to already reported cancelled. Moved-from copies record nothing.
struct cancel_probe {
  std::atomic<const weft::future<int>*>* watched;
  std::atomic<int>* saw_cancelled_first;
  bool armed = true;
  cancel_probe(std::atomic<const weft::future<int>*>* w, std::atomic<int>* s) : watched(w), saw_cancelled_first(s) {}
  cancel_probe(cancel_probe&& o) noexcept
      : watched(o.watched), saw_cancelled_first(o.saw_cancelled_first), armed(std::exchange(o.armed, false)) {}
  cancel_probe(const cancel_probe&) = delete;
  ~cancel_probe() {
    if (!armed) return;
    const auto* f = watched->load();
    if (f != nullptr && f->cancelled()) saw_cancelled_first->fetch_add(1);
  }
};
}  // namespace

TEST_CASE("a cancelled task's captures are destroyed before its future reports cancelled",
          "[future]") {
  for (const bool by_shutdown : {false, true}) {
    thread_pool pool(1);
    weft_test::gate gate;
    auto blocker = pool.submit([&] { gate.wait(); });
    REQUIRE(weft_test::eventually([&] { return pool.running() == 1; }));
    std::atomic<const weft::future<int>*> watched{nullptr};
    std::atomic<int> saw_cancelled_first{0};
    auto victim = pool.submit([probe = cancel_probe(&watched, &saw_cancelled_first)] { return 1; });
    watched = &victim;
    if (by_shutdown) {
      std::thread closer([&] { pool.shutdown(weft::shutdown_mode::cancel_pending); });
      victim.wait();
      gate.open();
      closer.join();
    } else {
      CHECK(victim.cancel());
      gate.open();
    }
    CHECK(victim.cancelled());
    CHECK(saw_cancelled_first.load() == 0);
    blocker.get();
  }
}

TEST_CASE("cancel() that loses to a concurrent cancel() returns only once the captures are gone", "[future]") {
  // A second canceller saw 'cancelling' and returned true while the first
  // was still destroying the captures: "cancelled as the call returns" was
  // false, and a caller freeing what the captures use raced their destructor.
  thread_pool pool(1);
  weft_test::gate release;
  auto blocker = pool.submit([&] { release.wait(); });
  struct slow_to_die {
    std::atomic<int>* destroyed;
    std::atomic<bool>* destroying;
    bool armed = true;
    slow_to_die(std::atomic<int>* d, std::atomic<bool>* s) : destroyed(d), destroying(s) {}
    slow_to_die(slow_to_die&& o) noexcept : destroyed(o.destroyed), destroying(o.destroying), armed(std::exchange(o.armed, false)) {}
    ~slow_to_die() {
      if (!armed) return;
      destroying->store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // widens the race window only
      destroyed->fetch_add(1);
    }
  };
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> destroyed{0};
    std::atomic<bool> destroying{false};
    auto f = pool.submit([g = slow_to_die(&destroyed, &destroying)] { return 1; });
    std::atomic<bool> first_cancelled{false};
    std::thread first([&] { first_cancelled.store(f.cancel()); });  // Catch's CHECK is for the main thread only
    REQUIRE(weft_test::eventually([&] { return destroying.load(); }));
    CHECK(f.cancel());
    CHECK(destroyed.load() == 1);  // the captures are gone when cancel() says cancelled
    CHECK(f.cancelled());
    first.join();
    CHECK(first_cancelled.load());
  }
  release.open();
  blocker.get();
}
