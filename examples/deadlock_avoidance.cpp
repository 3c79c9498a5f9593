// Two locks taken in opposite orders can deadlock: thread 1 holds A and waits
// for B while thread 2 holds B and waits for A. This program shows the
// hazard without hanging (the "broken" threads use try_lock_for, so they
// give up and report instead of waiting forever), then the fix:
// std::scoped_lock takes both locks at once, with deadlock avoidance.
#include <weft/rw_lock.hpp>  // weft::rw_lock (works with std::scoped_lock)

#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;

int main() {
  weft::rw_lock a, b;

  // Broken order, made visible: each thread takes its first lock, waits until
  // the other has taken its own, then tries for the second.
  std::latch both_hold_one(2);
  std::atomic<int> gave_up{0};
  auto opposite = [&](weft::rw_lock& first, weft::rw_lock& second) {
    std::unique_lock hold(first);
    both_hold_one.arrive_and_wait();
    if (!second.try_lock_for(100ms)) {
      gave_up++;  // a real lock() here would wait forever: deadlock
      return;
    }
    second.unlock();
  };
  std::thread t1(opposite, std::ref(a), std::ref(b));
  std::thread t2(opposite, std::ref(b), std::ref(a));
  t1.join();
  t2.join();
  std::printf("inconsistent order: %d of 2 threads would have deadlocked\n", gave_up.load());

  // Fixed: std::scoped_lock acquires both without deadlock, in any order.
  long transfers = 0;
  auto safe = [&](weft::rw_lock& first, weft::rw_lock& second) {
    for (int i = 0; i < 10000; ++i) {
      std::scoped_lock both(first, second);
      ++transfers;
    }
  };
  std::thread t3(safe, std::ref(a), std::ref(b));
  std::thread t4(safe, std::ref(b), std::ref(a));
  t3.join();
  t4.join();
  std::printf("scoped_lock: %ld transfers, no deadlock\n", transfers);
}
