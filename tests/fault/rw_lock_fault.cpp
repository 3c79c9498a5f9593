// weft — MIT licence. See LICENSE.
// rw_lock misuse that debug builds must catch instead of wedging every later
// writer: checked in a forked child, which must die of the failed assertion.
#include <weft/rw_lock.hpp>

#include "support.hpp"

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

TEST_CASE("unlock without the write lock is caught in debug builds", "[rw_lock][fork]") {
  int status = weft_test::reap(weft_test::spawn([] {
    weft::rw_lock lock;
    lock.unlock();
    return 0;
  }));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
#endif
