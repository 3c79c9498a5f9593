// weft — MIT licence. See LICENSE.
// Robustness tests for <weft/process_pool.hpp>, DESIGN "Robustness
// contract": liveness from the processes (not from sockets), deadlines that
// kill only their own task, a fork server that starts clean, start failures
// under descriptor pressure, pools inside workers and in forked copies,
// worker output. Labels `fault;fork`. A would-be hang ends the test process
// with a named failure (weft_test::finishes) or kills a child by alarm().
#include <weft/process_pool.hpp>
#include <weft/shared_memory.hpp>

#include "remote_tasks.hpp"
#include "support.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using weft::process_pool;
using weft_test::square;

namespace {

constexpr auto watchdog = std::chrono::seconds(30);  // far beyond a healthy run: hang detection only

// ThreadSanitizer cannot follow a forked child that starts threads (a
// pool's dispatcher): the tests whose children build pools skip under it.
#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif
#else
constexpr bool under_tsan = false;
#endif
#define WEFT_SKIP_UNDER_TSAN()                                              \
  do {                                                                      \
    if (under_tsan) {                                                       \
      WARN("skipped under ThreadSanitizer: a forked child starts threads"); \
      return;                                                               \
    }                                                                       \
  } while (0)

// Tests that leave a child almost no descriptors: UBSan's vptr check tests
// memory through a pipe, which it cannot open there, and then reports every
// virtual call as on an invalid object. The ASan+UBSan build skips them.
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_SKIP_WHEN_SANITIZERS_NEED_DESCRIPTORS()                              \
  do {                                                                            \
    WARN("skipped under AddressSanitizer+UBSan: their checks need descriptors"); \
    return;                                                                       \
  } while (false)
#else
#define WEFT_SKIP_WHEN_SANITIZERS_NEED_DESCRIPTORS() static_cast<void>(0)
#endif

// Shared flags, made before the pools fork so every worker sees them.
weft::shared_value<int>* helper_pid = nullptr;
weft::shared_value<int>* flag = nullptr;

// Forks a helper (no exec) that outlives the task and holds every
// descriptor the worker held, its socket to the pool included.
void fork_helper() {
  pid_t h = ::fork();
  if (h == 0) {
    ::alarm(120);  // outlives the test's checks, never the test run
    int null = ::open("/dev/null", O_RDWR);
    for (int fd : {0, 1, 2}) ::dup2(null, fd);  // never holds ctest's output pipe open
    for (;;) ::pause();
  }
  helper_pid->store(static_cast<int>(h));
}
int helper_then_crash(int) {
  fork_helper();
  ::raise(SIGKILL);
  return 0;
}
int helper_then_wait(int) {
  fork_helper();
  flag->store(1);
  for (;;) ::pause();
}
void kill_helper() {
  if (helper_pid->load() > 0) ::kill(helper_pid->load(), SIGKILL);
  helper_pid->store(0);
}

// Closes every descriptor it inherited (as a daemonizing library would),
// then runs forever: only the deadline can end it.
int close_descriptors_then_wait(int) {
  for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  for (;;) ::pause();
}
int exec_sleep(int) {
  ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
  return -1;
}

template <class T>
bool ready_within(const weft::future<T>& f, std::chrono::seconds limit = watchdog) {
  return f.wait_for(limit) == std::future_status::ready;
}

template <class T, class E>
bool fails_with(weft::future<T>& f) {
  try {
    f.get();
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

}  // namespace

// Issue 26 item 1: the pool waited for the worker's socket to close, which
// the helper kept open.
TEST_CASE("process_pool: a task that forks a helper and dies fails with worker_lost while the helper lives",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> pid(0);
  helper_pid = &pid;
  weft_test::finishes("a crash with a live helper", [] {
    process_pool pool(1);
    auto f = pool.submit(helper_then_crash, 0);
    REQUIRE(ready_within(f));
    CHECK(fails_with<int, weft::worker_lost>(f));
    CHECK(pool.submit(square, 3).get() == 9);  // a replacement serves
  }, watchdog);
  kill_helper();
}

TEST_CASE("process_pool: a task that forks a helper and runs past its timeout fails with timeout",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> pid(0);
  helper_pid = &pid;
  weft_test::finishes("a timeout with a live helper", [] {
    process_pool pool(1);
    auto f = pool.submit_with({std::chrono::milliseconds(300)}, helper_then_crash, 0);
    auto g = pool.submit_with({std::chrono::milliseconds(300)}, [](int) {
      fork_helper();
      for (;;) ::pause();
      return 0;
    }, 0);
    REQUIRE(ready_within(f));
    REQUIRE(ready_within(g));
    CHECK(fails_with<int, weft::worker_lost>(f));
    CHECK(fails_with<int, weft::timeout>(g));
  }, watchdog);
  kill_helper();
}

TEST_CASE("process_pool: kill_workers with a task whose helper lives returns, the task fails",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> pid(0), started(0);
  helper_pid = &pid;
  flag = &started;
  weft_test::finishes("kill_workers with a live helper", [&] {
    process_pool pool(1);
    auto f = pool.submit(helper_then_wait, 0);
    REQUIRE(weft_test::eventually([&] { return started.load() == 1; }));
    pool.kill_workers();
    REQUIRE(ready_within(f));
    CHECK(fails_with<int, weft::worker_lost>(f));
  }, watchdog);
  kill_helper();
}

// Issue 26 item 2: the deadline was dropped once the socket closed.
TEST_CASE("process_pool: submit_with times out a task that closes its descriptors or execs",
          "[process_pool][fault][fork]") {
  weft_test::finishes("a timeout after close or exec", [] {
    process_pool pool(2);
    auto closes = pool.submit_with({std::chrono::milliseconds(300)}, close_descriptors_then_wait, 0);
    auto execs = pool.submit_with({std::chrono::milliseconds(300)}, exec_sleep, 0);
    REQUIRE(ready_within(closes));
    REQUIRE(ready_within(execs));
    CHECK(fails_with<int, weft::timeout>(closes));
    CHECK(fails_with<int, weft::timeout>(execs));
    CHECK(pool.submit(square, 4).get() == 16);
  }, watchdog);
}

namespace {
weft::shared_value<int>* starts = nullptr;
void count_start() { starts->fetch_add(1); }
weft::shared_value<int>* arrived = nullptr;
// Returns once two tasks run at once (both workers up), or -1 after a
// bound: the pool keeps trying to start the second worker meanwhile.
int meet(int x) {
  arrived->fetch_add(1);
  for (int i = 0; i < 20000 && arrived->load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return arrived->load() < 2 ? -1 : x;
}

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the iterator's own
}

int die_by_signal(int) {
  ::raise(SIGKILL);
  return 0;
}

// In a child: a pool of 2 whose process then runs out of descriptors (the
// fork server has room) and loses a worker. Returns 0 if the pool either
// works or says it is broken naming the cause, and started a bounded number
// of workers; 1 on a wrong outcome, 3 on a hang; the alarm kills a worse one.
int pool_under_descriptor_pressure() {
  ::alarm(40);
  weft::shared_value<int> count(0), met(0);
  starts = &count;
  arrived = &met;
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = static_cast<rlim_t>(open_descriptors() + 64);
  if (::setrlimit(RLIMIT_NOFILE, &r) != 0) return 2;
  bool ok = true;
  weft::process_pool_options o;
  o.workers = 2;
  o.initializer = count_start;
  process_pool pool(o);
  for (int i = 0; i < 8; ++i) (void)pool.submit(square, i).get();
  // Out of descriptors from here on: whatever one the pool closes (the
  // dead worker's socket), this thread takes.
  std::atomic<bool> stop{false};
  std::thread grab([&] {
    while (!stop.load()) {
      while (::dup(0) >= 0) {
      }
      std::this_thread::yield();
    }
  });
  while (::dup(0) >= 0) {
  }
  auto lost = pool.submit(die_by_signal, 0);
  struct stop_grabbing {
    std::atomic<bool>& stop;
    std::thread& grab;
    ~stop_grabbing() {
      stop.store(true);
      grab.join();
    }
  } stopper{stop, grab};
  if (!ready_within(lost, std::chrono::seconds(25))) return 3;
  try {
    auto f = pool.submit(meet, 5);
    auto g = pool.submit(meet, 6);
    if (!ready_within(f, std::chrono::seconds(25)) || !ready_within(g, std::chrono::seconds(25))) return 3;
    int a = f.get(), b = g.get();
    ok = a == 5 && b == 6;
    if (!ok || std::getenv("WEFT_TEST_VERBOSE")) std::fprintf(stderr, "results %d %d, %d workers started\n", a, b, count.load());
  } catch (const weft::pool_broken& e) {
    ok = std::string(e.what()).find("Too many open files") != std::string::npos;
    if (!ok || std::getenv("WEFT_TEST_VERBOSE")) std::fprintf(stderr, "pool_broken: %s\n", e.what());
  }
  if (count.load() > 10) {
    std::fprintf(stderr, "%d workers started: a fork storm\n", count.load());
    ok = false;
  }
  return ok ? 0 : 1;
}
}  // namespace

// Issue 26 item 3: a spawn answer without its socket reset the failure
// count: thousands of workers a second, forever.
TEST_CASE("process_pool: out of descriptors when workers start: broken or working, never a fork storm",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  WEFT_SKIP_WHEN_SANITIZERS_NEED_DESCRIPTORS();
  int status = weft_test::reap(weft_test::spawn(pool_under_descriptor_pressure));
  INFO("exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

namespace {
weft::shared_value<int>* a_returned = nullptr;
weft::shared_value<int>* b_gate = nullptr;
weft::shared_value<int>* in_callback = nullptr;
int mark_and_return(int x) {
  while (in_callback->load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  a_returned->store(1);
  return x;
}
int wait_for_gate(int x) {
  while (b_gate->load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x;
}
}  // namespace

// Issue 26 item 4: a deadline was enforced before the replies waiting in
// the socket were read; the kill then hit the task queued behind.
TEST_CASE("process_pool: a deadline met by a reply the dispatcher has not read kills nothing",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> returned(0), gate(0), calling(0);
  a_returned = &returned;
  b_gate = &gate;
  in_callback = &calling;
  const auto limit = std::chrono::milliseconds(200);
  // The scenario needs A pipelined behind C, which a worker gets only once
  // its tasks are known to be short (remote_pool_core's pipeline_task): a
  // warm-up task first, and a new attempt if A still did not run behind C
  // (a warm-up slower than a millisecond on a loaded machine).
  bool behind_the_callback = false;
  for (int attempt = 0; attempt < 5 && !behind_the_callback; ++attempt) {
    returned.store(0);
    gate.store(0);
    calling.store(0);
    weft_test::finishes("a deadline behind a slow callback", [&] {
      process_pool pool(1);
      pool.submit(square, 0).get();  // the worker's tasks are now known to be short
      auto c = pool.submit(square, 1);
      // C's callback holds the dispatcher until A has returned in the worker
      // and A's deadline has passed: A's reply waits in the socket unread.
      c.add_done_callback([&] {
        calling.store(1);  // A replies now, while the dispatcher is here
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (returned.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
        behind_the_callback = returned.load() == 1;  // else A was not pipelined: no scenario this time
        if (behind_the_callback) std::this_thread::sleep_for(limit * 3);  // lets A's deadline pass; not a synchronization
      });
      auto a = pool.submit_with({limit}, mark_and_return, 2);
      auto b = pool.submit(wait_for_gate, 3);
      REQUIRE(ready_within(a));
      CHECK(a.get() == 2);
      gate.store(1);
      REQUIRE(ready_within(b));
      CHECK(b.get() == 3);
    }, watchdog);
  }
  CHECK(behind_the_callback);
}

namespace {
int nested_pool(int x) {
  process_pool inner(1);
  return inner.submit(square, x).get();
}
}  // namespace

// Issue 26 item 5: the fork server was forked while the pools' descriptor
// lock was held, so every worker inherited it locked.
TEST_CASE("process_pool: a task builds its own process_pool", "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  process_pool pool(1);
  auto f = pool.submit(nested_pool, 7);
  bool ready = ready_within(f);
  if (!ready) pool.kill_workers();
  REQUIRE(ready);
  CHECK(f.get() == 49);
}

// Issue 26 item 5, second half: a fork() while another thread was inside
// weft's descriptor lock gave the copy that lock, held forever.
TEST_CASE("process_pool: a fork()ed copy made while another thread holds weft's descriptor lock builds a pool",
          "[process_pool][fault][fork][detail]") {
  WEFT_SKIP_UNDER_TSAN();
  std::mutex& lock = weft::detail::pool_descriptors::instance().mutex();
  std::atomic<int> step{0};
  std::thread holder([&] {
    std::lock_guard hold(lock);  // as a dispatcher receiving a worker's socket does
    step.store(1);
    // Until the copy exists, or long enough for weft's fork handler (which
    // makes fork() wait for the lock) to have been reached: not a synchronization.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (step.load() != 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  pid_t copy = weft_test::spawn([] {
    ::alarm(20);  // a hang dies of SIGALRM
    process_pool mine(1);
    return mine.submit(square, 3).get() == 9 ? 0 : 1;
  });
  step.store(2);
  holder.join();
  int status = weft_test::reap(copy);
  INFO("exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

// Issue 26 item 8: a fork()ed copy has no dispatcher thread; its submits
// queued forever.
TEST_CASE("process_pool: submit and map from a fork()ed copy throw pool_broken, never hang",
          "[process_pool][fault][fork]") {
  process_pool pool(1);
  CHECK(pool.submit(square, 2).get() == 4);
  pid_t copy = weft_test::spawn([&] {
    ::alarm(20);
    int result = 0;
    try {
      auto f = pool.submit(square, 3);
      if (!ready_within(f, std::chrono::seconds(10)) || f.get() != 9) result |= 1;
    } catch (const weft::pool_broken&) {
    }
    try {
      std::vector<int> in{1, 2, 3};
      if (pool.map(square, in) != std::vector<int>{1, 4, 9}) result |= 2;
    } catch (const weft::pool_broken&) {
    }
    return result;
  });
  CHECK(weft_test::exited_ok(copy));
  CHECK(pool.submit(square, 4).get() == 16);  // the original is untouched
}

// Issue 26 item 6: with the double fork, the fork server was reparented to
// a subreaper (or PID 1), and a destroyed pool left it a zombie. (That the
// subreaper's wait() sees it while the pool lives is a documented limit.)
TEST_CASE("process_pool: a subreaper program is left no zombie by a destroyed pool",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
#if defined(WEFT_PORTABLE_PROCESS)
  // Subreapers are Linux's (prctl); the other-POSIX process path that this
  // flag compiles does not look for them.
  WARN("skipped on the portable process path: child subreapers are Linux-only");
  return;
#endif
  pid_t child = weft_test::spawn([] {
    ::alarm(20);
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 2;
    int result = 0;
    {
      process_pool pool(2);
      if (pool.submit(square, 2).get() != 4) result |= 1;
    }
    siginfo_t info{};
    errno = 0;  // no child at all, no zombie either
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | __WALL) != -1 || errno != ECHILD) result |= 8;
    return result;
  });
  int status = weft_test::reap(child);
  INFO("exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

namespace {
weft::shared_value<int>* running = nullptr;
weft::shared_value<int>* release = nullptr;
int run_until_released(int x) {
  running->store(1);
  while (release->load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x;
}
}  // namespace

// Issue 26 item 7: the fork server cleared the signal mask, so a Ctrl-C to
// the process group killed it and the workers.
TEST_CASE("process_pool: a program that blocks SIGINT keeps its pool through a Ctrl-C to its group",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  pid_t child = weft_test::spawn([] {
    ::alarm(20);
    ::setpgid(0, 0);  // a group of its own: the Ctrl-C reaches no one else
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &blocked, nullptr);
    weft::shared_value<int> is_running(0), released(0);
    running = &is_running;
    release = &released;
    int result = 0;
    process_pool pool(1);
    auto f = pool.submit(run_until_released, 5);
    while (is_running.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ::kill(0, SIGINT);  // Ctrl-C: the whole group
    released.store(1);
    try {
      if (f.get() != 5) result |= 1;
      if (pool.submit(square, 6).get() != 36) result |= 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      result |= 4;
    }
    return result;
  });
  int status = weft_test::reap(child);
  INFO("exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

namespace {
int print_with_cout(int x) {
  std::cout << "task " << x << '\n';
  std::printf("printf %d\n", x);
  return x;
}
std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

// Issue 26 item 9: a worker's std::cout buffer was dropped at _exit, and
// text buffered before the pool was printed by every worker.
TEST_CASE("process_pool: task output is flushed per task and nothing is printed twice",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  std::string path = "/tmp/weft_output_" + std::to_string(::getpid()) + ".txt";
  pid_t child = weft_test::spawn([&] {
    ::alarm(20);
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::close(out);
    std::ios::sync_with_stdio(false);
    std::cout << "before the pool\n";  // buffered
    std::printf("printf before the pool\n");
    {
      process_pool pool(2);
      for (int i = 0; i < 4; ++i) (void)pool.submit(print_with_cout, i).get();
    }
    std::cout.flush();
    std::fflush(nullptr);
    return 0;
  });
  CHECK(weft_test::exited_ok(child));
  std::string text = read_all(path);
  ::unlink(path.c_str());
  INFO(text);
  CHECK(count_of(text, "before the pool\n") == 2);  // "before..." and "printf before...", once each
  for (int i = 0; i < 4; ++i) {
    CHECK(count_of(text, "task " + std::to_string(i) + "\n") == 1);
    CHECK(count_of(text, "printf " + std::to_string(i) + "\n") == 1);
  }
}

namespace {
weft::shared_value<int>* reply_gate = nullptr;
std::vector<char> big_reply(int mib) {
  while (reply_gate->load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::vector<char>(static_cast<std::size_t>(mib) << 20, 'r');
}
}  // namespace

// Issue 26, also seen: a task that finished within its timeout but whose
// big reply was still being read when the deadline passed got `timeout`.
TEST_CASE("process_pool: a deadline does not cover the transfer of a reply that has begun",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> gate(0);
  reply_gate = &gate;
  const auto limit = std::chrono::milliseconds(300);
  weft_test::finishes("a big reply past its deadline", [&] {
    process_pool pool(1);
    auto c = pool.submit(square, 1);
    // C's callback holds the dispatcher while B returns and starts writing
    // its reply, until B's deadline has passed.
    c.add_done_callback([&] {
      gate.store(1);
      std::this_thread::sleep_for(limit * 3);  // lets B's deadline pass; not a synchronization
    });
    auto b = pool.submit_with({limit}, big_reply, 32);
    REQUIRE(ready_within(b));
    CHECK(b.get().size() == (std::size_t{32} << 20));
  }, watchdog);
}

// Issue 26, also seen: the pool's processes held every descriptor of the
// program, so a pipe's reader never saw end of stream while a pool lived.
TEST_CASE("process_pool: pclose() of a popen() made before the pool returns while the pool lives",
          "[process_pool][fault][fork]") {
  std::FILE* sink = ::popen("cat > /dev/null", "w");
  REQUIRE(sink != nullptr);
  process_pool pool(2);
  CHECK(pool.submit(square, 2).get() == 4);
  int status = -1;
  weft_test::finishes("pclose while a pool lives", [&] { status = ::pclose(sink); }, watchdog);
  CHECK(status == 0);
  CHECK(pool.submit(square, 3).get() == 9);
}

namespace {
int block_sigterm_then_wait(int) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &term, nullptr);
  running->store(1);
  for (;;) ::pause();
}
}  // namespace

// Issue 26, also seen: terminate_workers() waited for a task that blocks
// (or ignores) SIGTERM for as long as it ran.
TEST_CASE("process_pool: terminate_workers returns although a task blocks SIGTERM",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> is_running(0);
  running = &is_running;
  weft_test::finishes("terminate_workers with SIGTERM blocked", [&] {
    process_pool pool(1);
    auto f = pool.submit(block_sigterm_then_wait, 0);
    REQUIRE(weft_test::eventually([&] { return is_running.load() == 1; }));
    pool.terminate_workers();
    REQUIRE(ready_within(f));
    CHECK(fails_with<int, weft::worker_lost>(f));
  }, watchdog);
}

namespace {
std::vector<char> sized_reply(int mib) { return std::vector<char>(static_cast<std::size_t>(mib) << 20, 'x'); }

// In a child: a reply larger than the pool's process may allocate (its
// address space is capped after the pool's processes were made).
int reply_over_free_memory() {
  ::alarm(90);
  process_pool pool(1);
  if (pool.submit(square, 1).get() != 1) return 1;
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  rlimit as{};
  as.rlim_cur = as.rlim_max = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (rlim_t{256} << 20);
  if (::setrlimit(RLIMIT_AS, &as) != 0) return 2;
  auto f = pool.submit(sized_reply, 768);
  if (!ready_within(f, std::chrono::seconds(60))) return 3;
  int result = 0;
  try {
    (void)f.get();
    result |= 4;  // it fit after all: the test proves nothing
  } catch (const std::bad_alloc&) {
  }
  if (pool.submit(square, 3).get() != 9) result |= 8;
  return result;
}
}  // namespace

// Issue 26, also seen: the dispatcher allocated a reply's announced length
// up front; a reply over free memory threw std::bad_alloc on the
// dispatcher thread: std::terminate.
TEST_CASE("process_pool: a reply bigger than free memory fails its task with bad_alloc, the pool goes on",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
#if defined(__SANITIZE_ADDRESS__)
  WARN("skipped under AddressSanitizer: its shadow memory needs an unlimited address space");
  return;
#endif
  int status = weft_test::reap(weft_test::spawn(reply_over_free_memory));
  INFO("exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

namespace {
int create_segment_then_die(int id) {
  auto segment = weft::shared_memory::create("/weft_tracker_" + std::to_string(id), 4096);
  ::raise(SIGKILL);  // before any unlink
  return 0;
}
}  // namespace

// Issue 26, also seen, decided as a documented limit (README "Limits": no
// resource tracker): a named segment whose creating task is killed stays
// until the program unlinks it by name, which works.
TEST_CASE("process_pool: a named segment a killed task created stays until the program unlinks it",
          "[process_pool][fault][fork]") {
  const int id = static_cast<int>(::getpid());
  process_pool pool(1);
  auto f = pool.submit(create_segment_then_die, id);
  REQUIRE(ready_within(f));
  CHECK(fails_with<int, weft::worker_lost>(f));
  auto left = weft::shared_memory::open("/weft_tracker_" + std::to_string(id));  // still there
  left.unlink();
  CHECK_THROWS_AS(weft::shared_memory::open("/weft_tracker_" + std::to_string(id)), std::system_error);
}

namespace {
// Writes a byte to each descriptor in `fds` (the program's, inherited), as
// a task that logs to a descriptor opened before the pool, or a signal
// handler's self-pipe, does.
int write_to_inherited(std::vector<int> fds) {
  for (int fd : fds) (void)!::write(fd, "x", 1);
  return static_cast<int>(fds.size());
}
}  // namespace

// Review r3 item 1: the fork server closed the program's descriptors, a
// worker's socket took one of their numbers, and a write to it (a log
// descriptor, a self-pipe) went into the reply stream: the reader was
// stuck mid-frame and the deadline never fired.
TEST_CASE("process_pool: a task writing to a descriptor the program opened before the pool does not corrupt its reply",
          "[process_pool][fault][fork]") {
  std::string path = "/tmp/weft_inherited_" + std::to_string(::getpid()) + ".txt";
  int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(file >= 0);
  ::unlink(path.c_str());
  // Every free number up to 64 holds the program's file (so any number a
  // worker's socket could get after they were freed is one of them).
  std::vector<int> mine;
  for (int fd = 3; fd < 64; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 && ::dup2(file, fd) == fd) mine.push_back(fd);
  mine.push_back(file);
  weft_test::finishes("a reply after a write to an inherited descriptor", [&] {
    process_pool pool(2);
    for (int round = 0; round < 4; ++round) {
      auto f = pool.submit_with({std::chrono::seconds(5)}, write_to_inherited, mine);
      REQUIRE(ready_within(f));
      CHECK(f.get() == static_cast<int>(mine.size()));
    }
  }, watchdog);
  for (int fd : mine) ::close(fd);
}

// Review r3 item 2: the constructor's fflush(nullptr) locked stdin while
// another thread waited in fgets(): the constructor waited for a line.
TEST_CASE("process_pool: the constructor does not wait for a thread blocked reading stdin",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  pid_t child = weft_test::spawn([&] {
    ::alarm(20);
    int in[2];
    if (::pipe(in) != 0) return 2;
    ::dup2(in[0], 0);
    ::close(in[0]);
    std::thread reader([] {
      char line[64];
      (void)std::fgets(line, sizeof line, stdin);
    });
    // The reader holds stdin's lock once it waits in fgets().
    while (::ftrylockfile(stdin) == 0) {
      ::funlockfile(stdin);
      std::this_thread::yield();
    }
    int result;
    {
      process_pool pool(1);
      result = pool.submit(square, 3).get();
    }
    (void)!::write(in[1], "line\n", 5);
    reader.join();
    return result == 9 ? 0 : 1;
  });
  CHECK(weft_test::exited_ok(child));
}

namespace {
int print_and_square(int x) {
  std::printf("output of task %d\n", x);
  std::fflush(stdout);
  std::fprintf(stderr, "error output of task %d\n", x);
  return x * x;
}
}  // namespace

// Review r3 item 5: with 0-2 closed, the pool's own descriptors took those
// numbers, and a task's output went into the protocol.
TEST_CASE("process_pool: a program with its standard streams closed gets its results",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  pid_t child = weft_test::spawn([&] {
    ::alarm(20);
    ::close(0);
    ::close(1);
    ::close(2);
    int sum = 0;
    {
      process_pool pool(2);
      for (int i = 0; i < 6; ++i) sum += pool.submit(print_and_square, i).get();
    }
    return sum == 55 ? 0 : 1;
  });
  CHECK(weft_test::exited_ok(child));
}

// Review r3 item 7: poll() failing with EINVAL (RLIMIT_NOFILE lowered below
// the workers + 2 after the pool was built) ended the dispatcher silently:
// queued tasks never ran and never failed.
TEST_CASE("process_pool: RLIMIT_NOFILE lowered below what its poll needs breaks the pool, never stalls",
          "[process_pool][fault][fork]") {
  WEFT_SKIP_UNDER_TSAN();
  WEFT_SKIP_WHEN_SANITIZERS_NEED_DESCRIPTORS();
  pid_t child = weft_test::spawn([&] {
    ::alarm(20);
    process_pool pool(4);
    std::vector<weft::future<int>> warm;
    for (int i = 0; i < 8; ++i) warm.push_back(pool.submit(square, i));
    for (auto& f : warm) (void)f.get();
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = 3;
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) return 2;
    try {
      auto f = pool.submit(square, 2);
      if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return 3;
      (void)f.get();  // a poll that works under the limit may still serve it
    } catch (const weft::pool_broken&) {
    }
    return 0;
  });
  CHECK(weft_test::exited_ok(child));
}

namespace {
weft::shared_value<int>* runs = nullptr;
weft::shared_value<int>* stage = nullptr;  // 1: the deadline task runs; 2: the task behind it was submitted
int count_run(int x) {
  runs->fetch_add(1);
  return x;
}
// Whether a task frame waits in this worker's socket (pipelined behind the
// running task) within a second of the next submit.
int sees_pipelined_task(int) {
  stage->store(1);
  while (stage->load() != 2) std::this_thread::yield();
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < until) {
    for (int fd = 3; fd < 256; ++fd) {
      struct stat st {};
      if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) return 1;
    }
    std::this_thread::yield();
  }
  return 0;
}
}  // namespace

// Review r3 item 4: A's deadline kill was requested, A's reply arrived, and
// B (no deadline, pipelined behind A) had started when SIGKILL landed: B
// went back to the queue and ran twice. Now nothing is sent to a worker
// behind a task with a deadline, so its kill can only hit that task.
TEST_CASE("process_pool: no task is pipelined behind a task with a deadline",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> count(0), at(0);
  runs = &count;
  stage = &at;
  weft_test::finishes("a deadline task and the task behind it", [&] {
    process_pool pool(1);
    CHECK(pool.submit(square, 2).get() == 4);  // the worker is up: the next submits may pipeline
    auto a = pool.submit_with({std::chrono::seconds(60)}, sees_pipelined_task, 0);
    REQUIRE(weft_test::eventually([&] { return at.load() == 1; }));
    auto b = pool.submit(count_run, 7);
    at.store(2);
    CHECK(a.get() == 0);
    CHECK(b.get() == 7);
  }, watchdog);
  CHECK(count.load() == 1);
}

namespace {
// Writes the start of a frame into its own socket to the pool (stray bytes,
// as a descriptor mix-up would), then runs forever: only the deadline can
// end it.
int stall_mid_frame(int) {
  for (int fd = 3; fd < 256; ++fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    const std::uint64_t length = 1000;
    (void)!::write(fd, &length, sizeof length);
    (void)!::write(fd, "abc", 3);
  }
  for (;;) ::pause();
}
}  // namespace

// Review r3 item 1, also: a frame that stopped mid-way (bytes that are no
// reply) held the deadline back forever ("a reply is arriving").
TEST_CASE("process_pool: a reply that stops mid-frame does not hold a deadline back forever",
          "[process_pool][fault][fork]") {
  weft_test::finishes("a deadline over a stalled frame", [] {
    process_pool pool(1);
    auto f = pool.submit_with({std::chrono::milliseconds(200)}, stall_mid_frame, 0);
    REQUIRE(ready_within(f));
    CHECK(fails_with<int, weft::timeout>(f));
    CHECK(pool.submit(square, 4).get() == 16);  // a replacement serves
  }, watchdog);
}
