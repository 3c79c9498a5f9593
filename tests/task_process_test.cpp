// weft — MIT licence. See LICENSE.
//
// <weft/task.hpp> with process_pool futures: the tutorial's "mixed:
// processes + asyncio", a loop that keeps serving timers while CPU work
// runs in other processes, and a worker killed while a task awaits it.
#include <weft/process_pool.hpp>
#include <weft/task.hpp>

#include "support.hpp"

#include <chrono>
#include <csignal>
#include <unistd.h>

using namespace std::chrono_literals;
using weft::task;

namespace {

long sum_squares(long n) {
  long s = 0;
  for (long i = 0; i < n; ++i) s += i * i % 7;
  return s;
}
int die_now(int) {
  ::raise(SIGKILL);
  return 0;
}

}  // namespace

TEST_CASE("co_await a process_pool future: the loop serves timers while the work runs", "[task][process_pool]") {
  weft::process_pool pool(2);
  auto body = [&]() -> task<bool> {
    auto work = pool.submit(&sum_squares, 20'000'000L);
    int ticks = 0;
    while (!work.ready()) {
      co_await weft::sleep_for(1ms);
      ++ticks;
    }
    long got = co_await work;
    co_return got == sum_squares(20'000'000L) && ticks > 0;
  };
  weft_test::finishes("process future", [&] { CHECK(weft::run(body())); });
}

TEST_CASE("a process_pool worker killed while a task awaits it: the task gets worker_lost", "[task][process_pool]") {
  weft::process_pool pool(1);
  auto body = [&]() -> task<bool> {
    bool lost = false;
    try {
      co_await pool.submit(&die_now, 0);
    } catch (const weft::worker_lost&) {
      lost = true;
    }
    long after = co_await pool.submit(&sum_squares, 1000L);  // the pool replaced the worker
    co_return lost && after == sum_squares(1000L);
  };
  weft_test::finishes("killed worker", [&] { CHECK(weft::run(body())); });
}

TEST_CASE("gather over process_pool futures and loop tasks", "[task][process_pool]") {
  weft::process_pool pool(2);
  auto body = [&]() -> task<bool> {
    auto local = []() -> task<long> {
      co_await weft::sleep_for(1ms);
      co_return 5;
    };
    auto [a, b, c] = co_await weft::gather(pool.submit(&sum_squares, 1000L), pool.submit(&sum_squares, 2000L), local());
    co_return a == sum_squares(1000L) && b == sum_squares(2000L) && c == 5;
  };
  weft_test::finishes("gather processes", [&] { CHECK(weft::run(body())); });
}
