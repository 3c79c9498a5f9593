// weft — MIT licence. See LICENSE.
// thread_pool failure paths that end a process: checked in a forked child
// (the parent is single-threaded when it forks: every pool of earlier tests
// has been joined).
#include <weft/thread_pool.hpp>

#include "support.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace {
// Runs body in a child process and returns its wait status.
template <class Body>
int in_child(Body body) {
  return weft_test::reap(weft_test::spawn([&] {
    body();
    return 0;
  }));
}
}  // namespace

TEST_CASE("post without an error handler: message and std::terminate, never silence",
          "[thread_pool][fork]") {
  int status = in_child([] {
    weft::thread_pool pool(1);
    pool.post([] { throw std::runtime_error("escaped from post (expected in this test)"); });
    pool.wait();
  });
  // The child must not end normally. Plainly it dies of SIGABRT; under
  // ThreadSanitizer, TSan's own SIGABRT handler exits with its error code.
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("shutdown from the pool's own worker is refused, not a deadlock",
          "[thread_pool][fork]") {
  int status = in_child([] {
    weft::thread_pool pool(1);
    auto refused = pool.submit([&pool] {
      try {
        pool.shutdown();
        return false;
      } catch (const std::logic_error&) {
        return true;
      }
    });
    ::_exit(refused.get() ? 0 : 1);
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif
