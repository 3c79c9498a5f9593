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
#if defined(__linux__) && __has_include(<linux/seccomp.h>) && __has_include(<linux/filter.h>)
#include <cstddef>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#if defined(SYS_seccomp) && defined(SYS_membarrier)
#define WEFT_TEST_SECCOMP 1
#endif
#endif

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
#if defined(WEFT_TEST_SECCOMP)
namespace {
// Makes every later membarrier() of this process fail with EPERM, as a
// checkpoint/restore that dropped the registration or a seccomp policy
// added at run time would. Irreversible: call in a child process only.
bool refuse_membarrier() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program) == 0;
}

long fork_join_sum(weft::thread_pool& pool, int depth) {
  if (depth == 0) return 1;
  auto left = pool.submit([&pool, depth] { return fork_join_sum(pool, depth - 1); });
  const long right = fork_join_sum(pool, depth - 1);
  return left.get() + right;
}
}  // namespace

TEST_CASE("a membarrier that starts failing after registration degrades to polling sleeps, never an abort or a hang",
          "[thread_pool][fork]") {
  int status = in_child([] {
    ::alarm(static_cast<unsigned>(weft_test::hang_limit.count()));  // a hang ends as SIGALRM
    weft::thread_pool pool(2);
    bool ok = pool.submit([&] { return fork_join_sum(pool, 10); }).get() == 1024;
    if (!refuse_membarrier()) ::_exit(0);  // no seccomp here: nothing to test
    for (int round = 0; round < 50 && ok; ++round) {
      // Lets the workers park between rounds (each parking is a barrier,
      // now refused); not a synchronization point: the sums hold regardless.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ok = pool.submit([&] { return fork_join_sum(pool, 10); }).get() == 1024;
    }
    ::_exit(ok ? 0 : 1);
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif

TEST_CASE("a pool whose last owner is its own task's capture ends the program with a message (documented limit)",
          "[thread_pool][fork]") {
  // A thread cannot join itself: the destructor, run by the task's
  // captures on a worker, reports and calls std::terminate (README
  // "Limits"). The test pins that it is an abort, never a hang.
  int status = in_child([] {
    auto pool = std::make_shared<weft::thread_pool>(2);
    weft_test::gate release;
    auto* p = pool.get();
    p->post([owner = pool, &release] { release.wait(); });
    pool.reset();  // the task's capture is the last owner now
    release.open();
    weft_test::gate never;
    never.wait();  // the child ends by the abort
  });
  CHECK_FALSE(WIFEXITED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGABRT);
}

#endif
