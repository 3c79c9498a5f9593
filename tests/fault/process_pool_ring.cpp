// weft — MIT licence. See LICENSE.
// Robustness tests for process_pool's shared-memory channel
// (detail/shm_ring.hpp): small tasks and replies travel through a ring per
// worker, big ones on the socket behind a marker. A worker that dies, or
// closes its socket, while tasks wait in its ring must never make a task run
// twice, lose one or hang the pool. Every task counts its runs in shared
// memory made before the pool forks. Labels `fault;fork`.
#include <weft/process_pool.hpp>
#include <weft/shared_memory.hpp>

#include "remote_tasks.hpp"
#include "support.hpp"

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <unistd.h>

using weft::process_pool;
using weft_test::hang_limit;

namespace {

constexpr std::size_t max_tasks = 4096;
weft::shared_array<std::int32_t>* runs = nullptr;  // runs of task i; made before the pool forks
weft::shared_value<int>* gate = nullptr;           // 0 holds gated tasks back
weft::shared_value<int>* running_pid = nullptr;    // the worker that runs the gated task

void count_run(int i) { runs->atomic(static_cast<std::size_t>(i)).fetch_add(1); }

// Dies (SIGKILL) for every 9th index, after counting its run.
int count_or_die(int i) {
  count_run(i);
  if (i % 9 == 4) ::raise(SIGKILL);
  return i;
}
int counted(int i) {
  count_run(i);
  return i;
}
// Publishes its worker's pid, then waits for the gate.
int gated(int i) {
  count_run(i);
  running_pid->store(static_cast<int>(::getpid()));
  while (gate->load() == 0) ::usleep(1000);  // the task's own wait, not the test's synchronization
  return i;
}
// Closes every descriptor it inherited (its worker's socket too), then
// returns: its reply can still travel through the ring.
int close_descriptors_then_return(int i) {
  count_run(i);
  for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  return i;
}
// Argument and result of chosen sizes: some fit the ring, some go on the socket.
std::vector<std::uint8_t> resized(std::vector<std::uint8_t> in, std::size_t out_size, int i) {
  count_run(i);
  std::vector<std::uint8_t> out(out_size, static_cast<std::uint8_t>(i));
  if (!in.empty()) out.push_back(in.back());
  return out;
}

template <class T>
bool finishes(const weft::future<T>& f) {
  return f.wait_for(hang_limit) == std::future_status::ready;
}

// The shared counters, cleared.
struct counters {
  weft::shared_array<std::int32_t> array{max_tasks, 0};
  counters() { runs = &array; }
  ~counters() { runs = nullptr; }
  int operator[](int i) const { return array.atomic(static_cast<std::size_t>(i)).load(); }
};

}  // namespace

TEST_CASE("process_pool: tasks that kill their worker, many rounds: each task runs once, none is lost",
          "[process_pool][fault][fork]") {
  counters count;
  weft_test::finishes("tasks killing their workers", [&] {
    process_pool pool(2);
    constexpr int rounds = 12, per_round = 96;
    int base = 0;
    for (int round = 0; round < rounds; ++round, base += per_round) {
      std::vector<weft::future<int>> futures;
      for (int i = 0; i < per_round; ++i) futures.push_back(pool.submit(count_or_die, base + i));
      for (int i = 0; i < per_round; ++i) {
        const int id = base + i;
        REQUIRE(finishes(futures[static_cast<std::size_t>(i)]));
        INFO("task " << id);
        if (id % 9 == 4) {
          CHECK_THROWS_AS(futures[static_cast<std::size_t>(i)].get(), weft::worker_lost);
        } else {
          CHECK(futures[static_cast<std::size_t>(i)].get() == id);  // a task behind a dying one is never lost
        }
        CHECK(count[id] == 1);  // and never run twice
      }
    }
  });
}

// The gate and pid of gated tasks, installed for one test.
struct gated_tasks {
  weft::shared_value<int> open_gate{0}, pid{0};
  gated_tasks() {
    gate = &open_gate;
    running_pid = &pid;
  }
  ~gated_tasks() {
    gate = nullptr;
    running_pid = nullptr;
  }
};

// Submits gated(base), then `behind` counted tasks, and SIGKILLs the worker
// running the gated one from outside: it fails with worker_lost, and each
// task behind it (some in the dead worker's ring) runs once.
void kill_with_tasks_behind(process_pool& pool, gated_tasks& gated_run, const counters& count, int base, int behind) {
  gated_run.pid.store(0);
  auto first = pool.submit(gated, base);
  std::vector<weft::future<int>> after;
  for (int i = 1; i <= behind; ++i) after.push_back(pool.submit(counted, base + i));
  REQUIRE(weft_test::eventually([&] { return gated_run.pid.load() != 0; }));
  ::kill(gated_run.pid.load(), SIGKILL);
  REQUIRE(finishes(first));
  CHECK_THROWS_AS(first.get(), weft::worker_lost);
  for (int i = 1; i <= behind; ++i) {
    auto& f = after[static_cast<std::size_t>(i - 1)];
    REQUIRE(finishes(f));
    INFO("task " << base + i);
    CHECK(f.get() == base + i);
    CHECK(count[base + i] == 1);
  }
  CHECK(count[base] == 1);
}

TEST_CASE("process_pool: a worker SIGKILLed from outside while a task waits in its ring",
          "[process_pool][fault][fork]") {
  counters count;
  gated_tasks gated_run;
  weft_test::finishes("a kill with a task in the ring", [&] {
    for (int round = 0; round < 4; ++round) {
      process_pool pool(1);
      kill_with_tasks_behind(pool, gated_run, count, round * 8, 3);  // the first behind sits in the ring
    }
  });
}

TEST_CASE("process_pool: a worker of quick tasks SIGKILLed with a deep pipeline in its ring: each task behind runs "
          "once, on the replacement",
          "[process_pool][fault][fork]") {
  // After quick tasks, with a backlog, the dispatcher keeps up to 8 small
  // tasks in a worker's ring (remote_pool_core::quick_depth), not 2: all
  // of them must be taken back when the worker dies.
  counters count;
  gated_tasks gated_run;
  weft_test::finishes("a kill with a deep pipeline", [&] {
    for (int round = 0; round < 4; ++round) {
      process_pool pool(1);
      const int base = round * 64;
      for (int i = 0; i < 8; ++i) REQUIRE(pool.submit(counted, base + 40 + i).get() == base + 40 + i);  // quick now
      kill_with_tasks_behind(pool, gated_run, count, base, 15);
    }
  });
}

TEST_CASE("process_pool: a short burst after quick tasks is spread two per worker, not piled on one",
          "[process_pool][fork]") {
  // Review of the deep pipeline: after quick tasks, a burst of 10 slow
  // tasks went 8 to one worker and 2 to the other (801 ms for 10 x 100 ms
  // on 2 workers instead of 500). Seen here without timing: while both
  // workers hold a gated task, only 2 per worker were handed out, so the
  // other 6 are still in the pool and can be cancelled.
  counters count;
  gated_tasks gated_run;
  weft_test::finishes("a burst after quick tasks", [&] {
    process_pool pool(2);
    std::vector<weft::future<int>> warm;
    for (int i = 0; i < 50; ++i) warm.push_back(pool.submit(counted, 100 + i));
    for (auto& f : warm) REQUIRE(finishes(f));
    std::vector<weft::future<int>> burst;
    for (int i = 0; i < 10; ++i) burst.push_back(pool.submit(gated, i));
    REQUIRE(weft_test::eventually([&] { return count[0] + count[1] + count[2] + count[3] == 2; }));  // both busy
    int cancelled = 0;
    for (auto& f : burst) cancelled += f.cancel() ? 1 : 0;
    gated_run.open_gate.store(1);
    for (auto& f : burst) REQUIRE(finishes(f));
    // At most 2 per worker were handed out (fewer once a gated task had run
    // for pipeline_task: then the next waits in the pool).
    CHECK(cancelled >= 6);  // before the fix: 0 (8 + 2 handed out)
    int ran = 0;
    for (int i = 0; i < 10; ++i) ran += count[i];
    CHECK(ran == 10 - cancelled);
  });
}

// Submits tasks 0..n-1 through resized() with arguments of arg_size(i)
// bytes and results of out_size(i) bytes, then checks each result's size,
// contents and single run.
template <class ArgSize, class OutSize>
void check_resized_round_trips(process_pool& pool, const counters& count, int n, ArgSize arg_size, OutSize out_size) {
  std::vector<weft::future<std::vector<std::uint8_t>>> futures;
  for (int i = 0; i < n; ++i)
    futures.push_back(
        pool.submit(resized, std::vector<std::uint8_t>(arg_size(i), static_cast<std::uint8_t>(i + 1)), out_size(i), i));
  for (int i = 0; i < n; ++i) {
    auto& f = futures[static_cast<std::size_t>(i)];
    REQUIRE(finishes(f));
    auto v = f.get();
    INFO("task " << i);
    REQUIRE(v.size() == out_size(i) + (arg_size(i) != 0 ? 1 : 0));
    if (out_size(i) != 0) CHECK(v.front() == static_cast<std::uint8_t>(i));
    if (arg_size(i) != 0) CHECK(v.back() == static_cast<std::uint8_t>(i + 1));
    CHECK(count[i] == 1);
  }
}

TEST_CASE("process_pool: quick tasks near the small-frame limit with replies that fill the reply ring",
          "[process_pool][fault][fork]") {
  // Task frames around quick_payload (4 KiB), so some are pipelined deep
  // and some are not; 16 KiB replies, so a worker 8 tasks ahead finds its
  // reply ring full and sends the rest on the socket.
  counters count;
  weft_test::finishes("deep pipeline, full reply ring", [&] {
    process_pool pool(2);
    check_resized_round_trips(
        pool, count, 800, [](int i) { return 3900 + static_cast<std::size_t>(i % 400); },
        [](int) { return std::size_t{16000}; });
  });
}

TEST_CASE("process_pool: a task that closes its worker's socket, with tasks behind it in the ring, runs each once",
          "[process_pool][fault][fork]") {
  counters count;
  weft_test::finishes("a socket closed under the ring", [&] {
    process_pool pool(1);
    constexpr int rounds = 24;
    for (int round = 0; round < rounds; ++round) {
      const int base = round * 4;
      auto closer = pool.submit(close_descriptors_then_return, base);
      std::vector<weft::future<int>> behind;
      for (int i = 1; i < 4; ++i) behind.push_back(pool.submit(counted, base + i));
      REQUIRE(finishes(closer));
      try {
        CHECK(closer.get() == base);  // its reply came through the ring
      } catch (const weft::worker_lost&) {  // or its worker left before replying
      }
      CHECK(count[base] == 1);
      for (int i = 1; i < 4; ++i) {
        auto& f = behind[static_cast<std::size_t>(i - 1)];
        REQUIRE(finishes(f));
        INFO("round " << round << ", task " << i);
        try {
          CHECK(f.get() == base + i);
          CHECK(count[base + i] == 1);
        } catch (const weft::worker_lost&) {  // taken by the closing worker, which then left
          CHECK(count[base + i] <= 1);
        }
      }
    }
  });
}

TEST_CASE("process_pool: small and big tasks and replies interleave in order through ring and socket",
          "[process_pool][fault][fork]") {
  counters count;
  weft_test::finishes("ring and socket interleaved", [&] {
    process_pool pool(2);
    check_resized_round_trips(
        pool, count, 300, [](int i) -> std::size_t { return i % 3 == 0 ? 40000 : static_cast<std::size_t>(i % 7); },
        [](int i) -> std::size_t { return i % 5 == 0 ? 50000 : static_cast<std::size_t>(i % 4); });
  });
}

// The workload shape, not a synchronization: pauses longer than the pools'
// activity window (200 us) make both sides go to sleep between tasks, so each
// task needs the ring's wake-up path (a lost wake-up hangs, and the watchdog
// names it).
TEST_CASE("process_pool: workers and dispatcher asleep on their rings wake for every task, many rounds",
          "[process_pool][fault][fork]") {
  counters count;
  weft_test::finishes("wake-ups after idle", [&] {
    process_pool pool(2);
    for (int i = 0; i < 150; ++i) {
      auto f = pool.submit(counted, i);
      REQUIRE(finishes(f));
      CHECK(f.get() == i);
      std::this_thread::sleep_for(std::chrono::microseconds(i % 2 == 0 ? 300 : 1500));
    }
    for (int i = 0; i < 150; ++i) CHECK(count[i] == 1);
  });
}

// Every worker leaves after one task (max_tasks_per_child = 1): its channel
// slot is reset and given to its replacement only once its death was
// reported, round after round; no task sees another worker's records.
TEST_CASE("process_pool: workers recycled after every task reuse their channel slots, many rounds",
          "[process_pool][fault][fork]") {
  counters count;
  weft_test::finishes("recycled workers on reused slots", [&] {
    weft::process_pool_options o;
    o.workers = 2;
    o.max_tasks_per_child = 1;
    process_pool pool(o);
    constexpr int n = 120;
    std::vector<weft::future<int>> futures;
    for (int i = 0; i < n; ++i) futures.push_back(pool.submit(counted, i));
    for (int i = 0; i < n; ++i) {
      REQUIRE(finishes(futures[static_cast<std::size_t>(i)]));
      CHECK(futures[static_cast<std::size_t>(i)].get() == i);
      CHECK(count[i] == 1);
    }
  });
}

namespace {
// The channel regions this process maps: shared anonymous mappings (shown
// as /dev/zero) of at least 512 KiB. The test program maps no other.
int channel_regions_mapped() {
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return -1;
  int regions = 0;
  char line[512];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long first = 0, last = 0;
    char perms[5] = {};
    if (std::sscanf(line, "%lx-%lx %4s", &first, &last, perms) == 3 && perms[3] == 's' &&
        std::strstr(line, "/dev/zero") != nullptr && last - first >= (1ul << 19))
      ++regions;
  }
  std::fclose(maps);
  return regions;
}
}  // namespace

#if defined(__linux__)
TEST_CASE("process_pool: two pools built at once on two threads: each pool's workers map only their own channels",
          "[process_pool][fork]") {
  // Before the fix: one pool's fork server started while the other's
  // region was not yet kept from forks, and its workers mapped both (39 of
  // 40 rounds in review).
  for (int round = 0; round < 10; ++round) {
    std::unique_ptr<process_pool> first, second;
    std::thread builder([&] { first = std::make_unique<process_pool>(2); });
    second = std::make_unique<process_pool>(2);
    builder.join();
    CHECK(first->submit(channel_regions_mapped).get() == 1);
    CHECK(second->submit(channel_regions_mapped).get() == 1);
  }
}
#endif

TEST_CASE("process_pool: a worker count too large for the channel region throws, never writes past it",
          "[process_pool][fork]") {
  // Before the fix: (2 x workers + 2) x the channel size wrapped around, the
  // mapping came out small and building the channels wrote past it (SIGSEGV).
  for (std::size_t workers : {std::size_t{1} << 62, SIZE_MAX / 2, SIZE_MAX})
    CHECK_THROWS_AS(process_pool(workers), std::invalid_argument);
}

namespace {
int doubled(int x) { return 2 * x; }
// Builds a pool inside a worker, which copied the pool-building guard
// while its own pool held it.
int through_a_nested_pool(int x) {
  process_pool inner(1);
  return inner.submit(doubled, x).get();
}
}  // namespace

TEST_CASE("process_pool: a task builds and uses a process_pool of its own", "[process_pool][fork]") {
  // With the guard as a std::mutex (held across the fork server's fork), the
  // inner pool's constructor waited forever for a thread the worker does not have.
  process_pool pool(2);
  std::vector<weft::future<int>> results;
  for (int i = 0; i < 4; ++i) results.push_back(pool.submit(through_a_nested_pool, i));
  for (int i = 0; i < 4; ++i) {
    REQUIRE(results[static_cast<std::size_t>(i)].wait_for(hang_limit) == std::future_status::ready);
    CHECK(results[static_cast<std::size_t>(i)].get() == 2 * i);
  }
}
