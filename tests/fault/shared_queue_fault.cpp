// weft — MIT licence. See LICENSE.
// shared_queue with processes killed at the worst moment: while they hold a
// stamped slot (between claiming it and publishing), through the header's
// test-only fault-injection hook.
#include <csignal>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace weft_fault {
// In a victim process: the n-th claim on `side` kills the process.
inline const char* kill_side = nullptr;
inline long kill_countdown = -1;
// In a victim process: a push that claimed its slot says so in *held, then
// waits until *release is set (a writer that is slow, not dead).
inline std::atomic<int>* held = nullptr;
inline std::atomic<int>* release = nullptr;
inline void after_claim(const char* side) {
  if (kill_side != nullptr && std::strcmp(side, kill_side) == 0 && --kill_countdown == 0) ::raise(SIGKILL);
  if (held != nullptr && std::strcmp(side, "push") == 0) {
    held->store(1);
    while (release->load() == 0) ::usleep(1000);
  }
}
}  // namespace weft_fault
#define WEFT_TEST_HOOK_AFTER_CLAIM(side) ::weft_fault::after_claim(side)

#include <weft/shared_queue.hpp>

#include "support.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

using weft::shared_queue;
using weft_test::reap;
using weft_test::spawn;

using weft_test::tagged;

TEST_CASE("a producer killed between claiming a slot and publishing drops exactly that item",
          "[shared_queue][fork][fault]") {
  constexpr std::uint32_t victim_items = 100, survivor_items = 5000;
  shared_queue<tagged> q(8);
  pid_t victim = spawn([&] {
    weft_fault::kill_side = "push";
    weft_fault::kill_countdown = victim_items;  // dies holding its 100th slot
    for (std::uint32_t s = 0;; ++s) q.push(tagged{0, s});
    return 0;
  });
  pid_t survivor = spawn([&] {
    for (std::uint32_t s = 0; s < survivor_items; ++s) q.push(tagged{1, s});
    return 0;
  });
  std::uint32_t from_victim = 0, from_survivor = 0;
  int fifo_violations = 0, victim_status = 0;
  bool victim_dead = false;
  const auto give_up = std::chrono::steady_clock::now() + weft_test::hang_limit;
  // Keep consuming until the survivor's items are all here and the victim
  // has died (it needs room in the queue to reach its fatal claim).
  while (from_survivor < survivor_items || !victim_dead) {
    REQUIRE(std::chrono::steady_clock::now() < give_up);  // a wedged queue fails here
    if (!victim_dead) victim_dead = ::waitpid(victim, &victim_status, WNOHANG) == victim;
    auto item = q.pop_for(std::chrono::milliseconds(50));
    if (!item) continue;
    auto& count = item->producer == 0 ? from_victim : from_survivor;
    if (item->seq != count) ++fifo_violations;
    ++count;
  }
  CHECK(WIFSIGNALED(victim_status));
  CHECK(WIFEXITED(reap(survivor)));
  while (auto item = q.try_pop()) ++(item->producer == 0 ? from_victim : from_survivor);
  CHECK(fifo_violations == 0);
  CHECK(from_victim == victim_items - 1);  // the 100th push never completed: dropped
  CHECK(from_survivor == survivor_items);
  CHECK(q.empty());
  q.push(tagged{2, 0});  // the ring still works after the repair
  CHECK(q.pop()->producer == 2);
}

TEST_CASE("a consumer killed while copying an item out loses only that item",
          "[shared_queue][fork][fault]") {
  constexpr std::uint32_t items = 3000, victim_claims = 50;
  shared_queue<std::uint32_t> q(8);
  weft::shared_array<std::uint8_t> delivered(items, 0);
  pid_t victim = spawn([&] {
    weft_fault::kill_side = "pop";
    weft_fault::kill_countdown = victim_claims;  // dies holding its 50th item
    while (auto v = q.pop()) delivered.atomic(*v).fetch_add(1);
    return 0;
  });
  pid_t producer = spawn([&] {
    for (std::uint32_t i = 0; i < items; ++i) q.push(i);  // must not wedge on the dead slot
    return 0;
  });
  CHECK(WIFSIGNALED(reap(victim)));
  // The parent is the surviving consumer.
  std::uint32_t got = 0;
  for (;;) {
    auto v = q.pop_for(std::chrono::milliseconds(500));
    if (!v) {
      if (got + victim_claims - 1 >= items - 1) break;  // everything else arrived
      continue;
    }
    delivered.atomic(*v).fetch_add(1);
    ++got;
  }
  CHECK(WIFEXITED(reap(producer)));
  std::size_t twice = 0, missing = 0;
  for (std::uint8_t d : delivered) {
    twice += d > 1;
    missing += d == 0;
  }
  CHECK(twice == 0);
  CHECK(missing == 1);  // the item the victim held when it died
}

namespace {
// The state letter of a process's main thread, parsed after the LAST ')'.
char main_thread_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  return close == std::string::npos || close + 2 >= all.size() ? '?' : all[close + 2];
}
}  // namespace

// Issue 26 item 10: the state was read with "%d %*s %c", so a name with a
// space made a dead, unreaped producer look alive for good.
TEST_CASE("a producer with a space in its name that dies mid-push, not yet reaped, does not wedge the queue",
          "[shared_queue][fork][fault]") {
  shared_queue<tagged> q(4);
  pid_t victim = spawn([&] {
    ::prctl(PR_SET_NAME, "weft victim");
    weft_fault::kill_side = "push";
    weft_fault::kill_countdown = 1;  // dies holding its first slot
    q.push(tagged{0, 0});
    return 0;
  });
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(victim), &info, WEXITED | WNOWAIT) == 0);  // dead, left a zombie
  q.push(tagged{1, 0});
  auto item = q.pop_for(std::chrono::seconds(10));  // hung (nullopt) before: the zombie looked alive
  REQUIRE(item.has_value());
  CHECK(item->producer == 1);
  CHECK(WIFSIGNALED(reap(victim)));
}

// Issue 26 item 11: a process whose main thread called pthread_exit() (a
// zombie main thread, other threads running) was judged dead: the slot its
// live thread was writing was "repaired", and its publish() then wrote into
// a slot it no longer owned: the item was lost and the queue wedged.
TEST_CASE("a producer whose main thread exited is alive: its slot is not repaired and its item arrives",
          "[shared_queue][fork][fault]") {
#if defined(__SANITIZE_THREAD__)
  WARN("skipped under ThreadSanitizer: the forked victim starts a thread");
  return;
#endif
  shared_queue<tagged> q(4);
  // Two flags in memory the victim shares (lock-free atomics work across processes).
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(page != MAP_FAILED);
  auto* flags = new (page) std::atomic<int>[2]{};
  std::atomic<int>& held = flags[0];
  std::atomic<int>& release = flags[1];
  pid_t victim = spawn([&] {
    std::thread([&] {
      weft_fault::held = &held;
      weft_fault::release = &release;
      q.push(tagged{0, 7});
      ::_exit(0);
    }).detach();
    // As pthread_exit() from main() does, without unwinding through the
    // test framework's frames: only this thread exits; the process lives.
    ::syscall(SYS_exit, 0);
    return 0;
  });
  REQUIRE(weft_test::eventually([&] { return held.load() == 1 && main_thread_state(victim) == 'Z'; }));
  // Its push has not happened: nothing to pop, however often the
  // owner's liveness is checked meanwhile (every 10 ms while waiting).
  CHECK_FALSE(q.pop_for(std::chrono::milliseconds(300)).has_value());
  release.store(1);
  auto item = q.pop_for(std::chrono::seconds(10));
  REQUIRE(item.has_value());
  CHECK(item->producer == 0);
  CHECK(item->seq == 7);
  CHECK(weft_test::exited_ok(victim));
  q.push(tagged{1, 1});  // the ring still works
  CHECK(q.pop()->producer == 1);
  ::munmap(page, 4096);
}

// Review r3 item 3: a consumer out of descriptors (pidfd_open, fopen and
// opendir failing with EMFILE) judged a live producer dead, "repaired" the
// slot it was writing and let the next push overwrite it: items torn or
// duplicated. A check that cannot be made must mean alive.
TEST_CASE("a consumer out of descriptors judges a live producer alive: its slot is not repaired",
          "[shared_queue][fork][fault]") {
  shared_queue<tagged> q(1);
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(page != MAP_FAILED);
  auto* flags = new (page) std::atomic<int>[2]{};
  std::atomic<int>& held = flags[0];
  std::atomic<int>& release = flags[1];
  pid_t producer = spawn([&] {
    ::alarm(60);
    weft_fault::held = &held;
    weft_fault::release = &release;
    q.push(tagged{0, 7});
    return 0;
  });
  REQUIRE(weft_test::eventually([&] { return held.load() == 1; }));
  pid_t consumer = spawn([&] {
    ::alarm(60);
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = std::min<rlim_t>(r.rlim_cur, 256);
    ::setrlimit(RLIMIT_NOFILE, &r);
    while (::open("/dev/null", O_RDONLY) >= 0) {
    }
    if (errno != EMFILE) return 2;
    // The slot is held by a live process: nothing to pop, however often
    // its owner's liveness is checked meanwhile.
    return q.pop_for(std::chrono::milliseconds(300)).has_value() ? 1 : 0;
  });
  CHECK(weft_test::exited_ok(consumer));
  // Repaired, the only slot would take another item now.
  CHECK_FALSE(q.try_push(tagged{1, 1}));
  release.store(1);
  auto item = q.pop_for(std::chrono::seconds(10));
  REQUIRE(item.has_value());
  CHECK(item->producer == 0);
  CHECK(item->seq == 7);
  CHECK(weft_test::exited_ok(producer));
  CHECK_FALSE(q.pop_for(std::chrono::milliseconds(0)).has_value());  // nothing duplicated
  ::munmap(page, 4096);
}
