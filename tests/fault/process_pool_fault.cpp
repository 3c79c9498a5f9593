// weft — MIT licence. See LICENSE.
// Robustness tests for <weft/process_pool.hpp> (DESIGN "Robustness
// contract"): big payloads, several pools, hostile SIGCHLD settings, forked
// copies, processes killed from outside, failing initializers, failing
// spawns. Labels `fault;fork`. Every wait is bounded by hang_limit, so a
// regression fails instead of hanging.
#include <weft/process_pool.hpp>
#include <weft/shared_memory.hpp>

#include "remote_tasks.hpp"
#include "support.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using weft::process_pool;
using weft_test::hang_limit;
using weft_test::square;

namespace {

int my_pid() { return static_cast<int>(::getpid()); }
int die_by_signal(int) {
  ::raise(SIGKILL);
  return 0;
}
int wait_forever(int) {
  for (;;) ::pause();
}
std::string echo(std::string s) { return s; }

// The parent of a process, from /proc/<pid>/stat (Linux).
int parent_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');  // the command name may hold spaces
  std::istringstream rest(all.substr(close + 2));
  char state = 0;
  int ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// The pipes and sockets a process holds, by kernel object ("socket:[123]"),
// leaving out its standard streams.
std::set<std::string> channels_of(int pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    if (std::stoi(e.path().filename().string()) <= 2) continue;
    auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (target.starts_with("socket:") || target.starts_with("pipe:")) out.insert(target);
  }
  return out;
}

// The pool's processes: its workers (as reported by tasks) and their parent,
// the fork server.
std::set<int> processes_of(process_pool& pool) {
  std::vector<weft::future<int>> pids;
  for (int i = 0; i < 8 * static_cast<int>(pool.size()); ++i) pids.push_back(pool.submit(my_pid));
  std::set<int> out;
  for (auto& f : pids) out.insert(f.get());
  out.insert(parent_of(*out.begin()));
  return out;
}

template <class T>
bool finishes(const weft::future<T>& f) {
  return f.wait_for(hang_limit) == std::future_status::ready;
}

// Either the pool rebuilt itself and runs the task, or it reports itself
// broken (at submit or through the future): never a hang.
bool works_or_reports_broken(process_pool& pool) {
  try {
    auto f = pool.submit(square, 6);
    if (!finishes(f)) return false;
    return f.get() == 36;
  } catch (const weft::pool_broken&) {
    return true;
  }
}

weft::shared_value<int>* init_runs = nullptr;  // set before the pool forks
void init_throws() {
  init_runs->fetch_add(1);
  throw std::runtime_error("cannot open the database");
}
void init_exits() {
  init_runs->fetch_add(1);
  std::exit(7);
}

// Checks the contract of a pool whose initializer fails: pending and later
// tasks fail with pool_broken naming the cause; no respawn loop.
void check_broken_by_initializer(void (*initializer)(), const std::string& cause) {
  weft::shared_value<int> runs(0);
  init_runs = &runs;
  {
    weft::process_pool_options o;
    o.workers = 2;
    o.initializer = initializer;
    process_pool pool(o);
    std::vector<weft::future<int>> pending;
    for (int i = 0; i < 5; ++i) pending.push_back(pool.submit(square, i));
    for (auto& f : pending) {
      REQUIRE(finishes(f));
      try {
        f.get();
        FAIL("a task ran although the initializer failed");
      } catch (const weft::pool_broken& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(cause) != std::string::npos);
      }
    }
    CHECK_THROWS_AS(pool.submit(square, 1), weft::pool_broken);
  }
  CHECK(runs.load() <= 2);  // one per worker slot at most: no respawn loop
  init_runs = nullptr;
}

// A task that returns only once the test opens the gate (a flag in shared
// memory, made before the pool forks).
weft::shared_value<int>* task_gate = nullptr;
int after_gate(int x) {
  while (task_gate->load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x;
}

// What a done callback saw when it called shutdown() on its own pool.
enum class reentry { none, logic_error, returned, other };
reentry shutdown_from_here(process_pool& pool) {
  try {
    pool.shutdown();
    return reentry::returned;
  } catch (const std::logic_error&) {
    return reentry::logic_error;
  } catch (...) {
    return reentry::other;
  }
}

}  // namespace

TEST_CASE("process_pool: tens of MiB argument and result on one worker",
          "[process_pool][fault][fork]") {
  process_pool pool(1);
  std::vector<std::string> inputs;
  for (char c : {'a', 'b', 'c', 'd'}) inputs.push_back(std::string(24u << 20, c));
  std::vector<weft::future<std::string>> echoes;
  for (auto& s : inputs) echoes.push_back(pool.submit(echo, s));
  auto small = pool.submit(square, 3);  // behind the big ones, same worker
  for (std::size_t i = 0; i < echoes.size(); ++i) {
    REQUIRE(finishes(echoes[i]));
    CHECK(echoes[i].get() == inputs[i]);
  }
  REQUIRE(finishes(small));
  CHECK(small.get() == 9);
}

TEST_CASE("process_pool: two pools are destroyed in either order", "[process_pool][fault][fork]") {
  for (bool older_first : {true, false}) {
    std::optional<process_pool> older(std::in_place, 1);
    CHECK(older->submit(square, 2).get() == 4);  // its worker's socket is open here now
    std::optional<process_pool> newer(std::in_place, 1);
    CHECK(newer->submit(square, 3).get() == 9);
    if (older_first) {
      older.reset();  // hung: the newer pool's processes held the older pool's sockets
      CHECK(newer->submit(square, 4).get() == 16);
      newer.reset();
    } else {
      newer.reset();
      CHECK(older->submit(square, 4).get() == 16);
      older.reset();
    }
  }
}

TEST_CASE("process_pool: a pool's processes hold no descriptor of another pool",
          "[process_pool][fault][fork]") {
  const auto before = channels_of(my_pid());
  process_pool first(2);
  process_pool second(2);
  auto mine = channels_of(my_pid());  // what the pools opened here
  for (auto& c : before) mine.erase(c);
  REQUIRE(!mine.empty());
  for (process_pool* pool : {&first, &second})
    for (int pid : processes_of(*pool))
      for (auto& c : channels_of(pid)) {
        INFO("process " << pid << " holds " << c);
        CHECK(mine.count(c) == 0);  // a pool process holds only its own end of a channel
      }
}

TEST_CASE("process_pool: a pool built on a thread that exits keeps working", "[process_pool][fault][fork]") {
  std::optional<process_pool> pool;
  std::thread([&] {
    pool.emplace(2);
    THREAD_CHECK(pool->submit(square, 4).get() == 16);  // the fork server is up before the thread ends
  }).join();
  CHECK_THREADS_OK();
  auto f = pool->submit(square, 5);
  REQUIRE(finishes(f));  // pended forever: the fork server died with the thread
  CHECK(f.get() == 25);
  auto lost = pool->submit(die_by_signal, 0);
  REQUIRE(finishes(lost));
  CHECK_THROWS_AS(lost.get(), weft::worker_lost);
  CHECK(pool->submit(square, 6).get() == 36);
  pool.reset();
}

TEST_CASE("process_pool: fork server and workers killed from outside", "[process_pool][fault][fork]") {
  process_pool pool(2);
  auto processes = processes_of(pool);
  auto running = pool.submit(wait_forever, 0);
  for (int pid : processes) ::kill(pid, SIGKILL);  // as the OOM killer would
  REQUIRE(finishes(running));
  CHECK_THROWS_AS(running.get(), weft::error);  // worker_lost or pool_broken
  CHECK(works_or_reports_broken(pool));
  CHECK(works_or_reports_broken(pool));
  // The destructor returns (ctest's timeout catches a hang).
}

TEST_CASE("process_pool: works when the program ignores SIGCHLD", "[process_pool][fault][fork]") {
  auto old = std::signal(SIGCHLD, SIG_IGN);
  {
    process_pool pool(1);
    auto lost = pool.submit(die_by_signal, 0);
    REQUIRE(finishes(lost));  // pended forever: the fork server's waitpid saw no child
    CHECK_THROWS_AS(lost.get(), weft::worker_lost);
    CHECK(pool.submit(square, 7).get() == 49);
  }
  std::signal(SIGCHLD, old);
}

namespace {
std::atomic<int> reaped_by_handler{0};
void reaping_handler(int) {
  int saved = errno;
  while (::waitpid(-1, nullptr, WNOHANG) > 0) reaped_by_handler.fetch_add(1);
  errno = saved;
}
}  // namespace

TEST_CASE("process_pool: works when the program reaps children in its own SIGCHLD handler",
          "[process_pool][fault][fork]") {
  struct sigaction sa {};
  sa.sa_handler = reaping_handler;
  sa.sa_flags = SA_RESTART;
  struct sigaction old {};
  ::sigaction(SIGCHLD, &sa, &old);
  {
    process_pool pool(1);
    for (int round = 0; round < 3; ++round) {
      auto lost = pool.submit(die_by_signal, 0);
      REQUIRE(finishes(lost));
      try {
        lost.get();
        FAIL("the task should have been lost");
      } catch (const weft::worker_lost& e) {
        CHECK(e.signal() == SIGKILL);
      }
      CHECK(pool.submit(square, round).get() == round * round);
    }
  }
  ::sigaction(SIGCHLD, &old, nullptr);
}

TEST_CASE("process_pool: a forked copy of the program destroying the pool leaves it working",
          "[process_pool][fault][fork]") {
  std::optional<process_pool> pool(std::in_place, 1);
  CHECK(pool->submit(square, 2).get() == 4);
  pid_t copy = weft_test::spawn([&] {
    ::alarm(60);  // a hang in the copy's destructor ends as SIGALRM
    pool.reset();  // as a global pool's static destructor would
    return 0;
  });
  CHECK(weft_test::exited_ok(copy));
  auto lost = pool->submit(die_by_signal, 0);
  REQUIRE(finishes(lost));  // needs the fork server: its socket was shut down by the copy
  CHECK_THROWS_AS(lost.get(), weft::worker_lost);
  auto after = pool->submit(square, 3);
  REQUIRE(finishes(after));
  CHECK(after.get() == 9);
}

TEST_CASE("process_pool: an initializer that throws breaks the pool without a respawn loop",
          "[process_pool][fault][fork]") {
  check_broken_by_initializer(init_throws, "cannot open the database");
}

TEST_CASE("process_pool: an initializer that exits breaks the pool without a respawn loop",
          "[process_pool][fault][fork]") {
  check_broken_by_initializer(init_exits, "status 7");
}

TEST_CASE("process_pool: a fork server that cannot create sockets fails tasks and never hangs",
          "[process_pool][fault][fork]") {
  std::optional<process_pool> pool(std::in_place, 1);
  int worker = pool->submit(my_pid).get();
  rlimit one{1, 1};  // poll() on one descriptor still works; every new descriptor fails with EMFILE
  REQUIRE(::prlimit(parent_of(worker), RLIMIT_NOFILE, &one, nullptr) == 0);
  auto lost = pool->submit(die_by_signal, 0);
  REQUIRE(finishes(lost));
  CHECK_THROWS_AS(lost.get(), weft::worker_lost);
  try {
    auto f = pool->submit(square, 2);  // no worker can be started for it
    REQUIRE(finishes(f));
    f.get();
    FAIL("a task ran without a worker");
  } catch (const weft::pool_broken& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("worker") != std::string::npos);
  }
  pool.reset();  // returns: no spawn request is left unanswered
}

TEST_CASE("process_pool: the program's wait() loop ends while a pool exists", "[process_pool][fault][fork]") {
  process_pool pool(1);
  CHECK(pool.submit(square, 2).get() == 4);
  // Hung: the fork server was this program's child and never exits while
  // the pool lives.
  while (::wait(nullptr) > 0) {
  }
  CHECK(errno == ECHILD);
  CHECK(pool.submit(square, 3).get() == 9);
}

TEST_CASE("process_pool: the destructor returns while a fork()ed copy of the program lives",
          "[process_pool][fault][fork]") {
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::optional<process_pool> pool(std::in_place, 2);
  CHECK(pool->submit(square, 2).get() == 4);
  pid_t copy = weft_test::spawn([&] {
    ::close(gate[1]);
    char c;
    return static_cast<int>(::read(gate[0], &c, 1));  // 0 once the test closes its end
  });
  pool.reset();  // hung: the copy held the workers' sockets open, so they never saw end of stream
  ::close(gate[1]);
  ::close(gate[0]);
  CHECK(weft_test::exited_ok(copy));
}

// A done callback runs on the pool's dispatcher thread, which shutdown()
// must join: there it throws std::logic_error, as thread_pool's does on its
// own workers, and the pool goes on serving.
TEST_CASE("process_pool: shutdown() from a done callback throws logic_error and the pool goes on",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> gate(0);
  task_gate = &gate;
  weft_test::finishes("shutdown() from a done callback", [&] {
    process_pool pool(1);
    std::atomic<reentry> seen{reentry::none};
    auto f = pool.submit(after_gate, 3);
    f.add_done_callback([&] { seen = shutdown_from_here(pool); });
    gate.store(1);  // the callback was added first: it runs where the task completes
    CHECK(f.get() == 3);
    REQUIRE(weft_test::eventually([&] { return seen.load() != reentry::none; }));
    CHECK(seen.load() == reentry::logic_error);
    CHECK(pool.submit(square, 4).get() == 16);
  });
  task_gate = nullptr;
}

// Hung: the dispatcher ran the callbacks of the tasks a shutdown(cancel_pending)
// cancels, and a callback's shutdown() waited for the first one, which
// waited for the dispatcher.
TEST_CASE("process_pool: shutdown() from the callback of a task another shutdown cancels never hangs",
          "[process_pool][fault][fork]") {
  weft::shared_value<int> gate(0);
  task_gate = &gate;
  weft_test::finishes("shutdown() from a cancelled task's callback", [&] {
    process_pool pool(1);
    std::atomic<reentry> seen{reentry::none};
    auto running = pool.submit(after_gate, 1);
    auto pipelined = pool.submit(after_gate, 2);  // waits in the worker's socket
    auto queued = pool.submit(after_gate, 3);     // waits in the pool: shutdown cancels it
    REQUIRE(weft_test::eventually([&] { return pool.pending() == 2; }));  // the first one runs
    queued.add_done_callback([&] { seen = shutdown_from_here(pool); });
    std::thread opener([&] {
      (void)weft_test::eventually([&] { return seen.load() != reentry::none; });
      gate.store(1);
    });
    pool.shutdown(weft::shutdown_mode::cancel_pending);
    opener.join();
    CHECK(seen.load() == reentry::logic_error);
    CHECK(queued.cancelled());
    CHECK(running.get() == 1);
  });
  task_gate = nullptr;
}

// Every call returns, none before the pool's work is done. Under
// ThreadSanitizer this also checks that the dispatcher-thread test of one
// call does not race with another call's join().
TEST_CASE("process_pool: shutdown() from several threads at once", "[process_pool][fault][fork]") {
  weft_test::finishes("concurrent shutdown() calls", [] {
    process_pool pool(2);
    std::vector<weft::future<int>> results;
    for (int i = 0; i < 50; ++i) results.push_back(pool.submit(square, i));
    std::atomic<int> returned{0};
    weft_test::run_threads(4, [&](int) {
      pool.shutdown();
      ++returned;
    });
    CHECK(returned == 4);
    for (int i = 0; i < 50; ++i) CHECK(results[static_cast<std::size_t>(i)].get() == i * i);
    CHECK_THROWS_AS(pool.submit(square, 1), weft::pool_closed);
  });
}
