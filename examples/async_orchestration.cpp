// The Python tutorial's asyncio orchestration, with coroutines on one event
// loop (no thread per wait): a call with a timeout (asyncio.wait_for), a
// gather under an overall timeout (asyncio.gather inside wait_for), and a
// race whose losers are cancelled (asyncio.wait(FIRST_COMPLETED)).
// Unlike the thread-pool version (futures_timeouts.cpp), a timed-out or
// losing coroutine is really cancelled: weft::cancelled is thrown at its
// co_await, its destructors run, and it has finished before the combinator
// returns. Twin: bench/python/async_orchestration.py.
#include <weft/error.hpp>  // weft::cancelled, weft::timeout
#include <weft/task.hpp>   // weft::task, weft::run, weft::sleep_for, weft::gather, weft::first_of, weft::wait_for

#include <chrono>
#include <cstdio>
#include <string>
#include <tuple>

using namespace std::chrono_literals;

// What the children report; lives in main_task's frame, which outlives them
// (every combinator below returns only after its children finished).
struct tally {
  int finished = 0;   // children that ended, however (a `finally` in Python)
  int cancelled = 0;  // children that saw weft::cancelled
};

// Counts a child as finished when its frame unwinds, normally or not.
struct finish_guard {
  tally* t;
  ~finish_guard() { ++t->finished; }
};

// Stands in for a network call that takes `delay` and answers `value`.
// State comes in as parameters (they live in the coroutine frame), never as
// a lambda's captures.
weft::task<int> lookup(int value, std::chrono::milliseconds delay, tally* t) {
  finish_guard guard{t};
  try {
    co_await weft::sleep_for(delay);  // the loop's timer: no thread sleeps
  } catch (const weft::cancelled&) {  // asyncio.CancelledError
    ++t->cancelled;
    throw;  // let the cancellation finish the task, as in asyncio
  }
  co_return value;
}

weft::task<std::string> mirror(std::string name, std::chrono::milliseconds delay, tally* t) {
  int ignored = co_await lookup(0, delay, t);  // awaiting a task: it runs now, inline
  (void)ignored;
  co_return "payload from " + name;
}

weft::task<int> main_task() {
  // 1. wait_for: the result if it comes in time, else the work is cancelled
  //    (and has unwound) and weft::timeout is thrown.
  tally one;
  int fast = co_await weft::wait_for(lookup(42, 5ms, &one), 1s);
  std::printf("wait_for: fast lookup -> %d\n", fast);
  try {
    co_await weft::wait_for(lookup(7, 10s, &one), 50ms);
  } catch (const weft::timeout&) {
    std::printf("wait_for: slow lookup timed out after 50 ms; cancelled: %s\n", one.cancelled == 1 ? "yes" : "no");
  }

  // 2. gather: every result, in argument order (a tuple; gather(range) gives
  //    a vector). Under wait_for, a timeout cancels the children still
  //    running; all of them have finished when weft::timeout arrives.
  tally two;
  auto [a, b, c] = co_await weft::wait_for(
      weft::gather(lookup(10, 10ms, &two), lookup(20, 20ms, &two), lookup(30, 30ms, &two)), 1s);
  std::printf("gather: [%d, %d, %d] within 1000 ms\n", a, b, c);
  tally three;
  try {
    co_await weft::wait_for(
        weft::gather(lookup(10, 10ms, &three), lookup(20, 20ms, &three), lookup(30, 10s, &three)), 100ms);
  } catch (const weft::timeout&) {
    std::printf("gather under 100 ms: timed out; %d of 3 children finished, %d cancelled\n", three.finished,
                three.cancelled);
  }

  // 3. first_of: the first to finish wins; the others are cancelled and have
  //    finished before it returns (no task outlives the race).
  tally four;
  auto [index, payload] = co_await weft::first_of(mirror("mirror-a", 80ms, &four), mirror("mirror-b", 20ms, &four),
                                                  mirror("mirror-c", 150ms, &four));
  std::printf("race: mirror %zu of 3 won with \"%s\"; %d losers cancelled, %d of 3 finished\n", index + 1,
              payload.c_str(), four.cancelled, four.finished);
  co_return 0;
}

int main() { return weft::run(main_task()); }  // asyncio.run(main())
