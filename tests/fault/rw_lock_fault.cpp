// weft — MIT licence. See LICENSE.
// rw_lock misuse that debug builds must catch instead of wedging every later
// writer: checked in a forked child, which must die of the failed assertion.
#include <weft/rw_lock.hpp>

#include "support.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <csignal>

TEST_CASE("a stray unlock_shared is caught in debug builds (writers locked out forever)",
          "[rw_lock][fork]") {
  int status = weft_test::reap(weft_test::spawn([] {
    weft::rw_lock lock;
    lock.unlock_shared();  // never locked: WEFT_ASSERT must stop here
    lock.lock();           // before the fix: never returns
    return 0;
  }));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("a stray unlock_shared is caught while readers use the central count (write-heavy use)",
          "[rw_lock][fork]") {
  int status = weft_test::reap(weft_test::spawn([] {
    weft::rw_lock lock;
    for (int i = 0; i < 100; ++i) {  // writes only: readers move to the state word
      lock.lock();
      lock.unlock();
    }
    lock.unlock_shared();  // never locked: WEFT_ASSERT must stop here
    lock.lock();           // would wait for a reader count that never drains
    return 0;
  }));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("unlock without the write lock is caught in debug builds", "[rw_lock][fork]") {
  int status = weft_test::reap(weft_test::spawn([] {
    weft::rw_lock lock;
    lock.unlock();
    return 0;
  }));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
TEST_CASE("a stray unlock_shared is caught even while another thread holds the same reader slot",
          "[rw_lock][fork]") {
  int status = weft_test::reap(weft_test::spawn([] {
    weft::rw_lock lock;
    const std::size_t my_slot = weft::detail::this_thread_index() % weft::rw_lock::reader_slots;
    std::atomic<bool> holding{false};
    // New threads take new indices: the 16th after ours shares our slot.
    // Detached: they sleep until the process ends.
    for (std::size_t i = 0; i < weft::rw_lock::reader_slots; ++i)
      std::thread([&] {
        if (weft::detail::this_thread_index() % weft::rw_lock::reader_slots != my_slot) return;
        lock.lock_shared();  // held until the process dies
        holding = true;
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      }).detach();
    while (!holding) std::this_thread::yield();
    lock.unlock_shared();  // this thread holds nothing: WEFT_ASSERT must stop here
    std::_Exit(0);         // before the fix: the slot went 1 -> 0 and nothing noticed
    return 0;
  }));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
#endif
