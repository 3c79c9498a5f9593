// weft — MIT licence. See LICENSE.
// Direct tests of the structures under the pools: the injection queue, the
// work-stealing deque, the task-block cache and the self-pipe. The pool
// tests reach them only through scheduling; these pin down each contract on
// its own, so a broken structure fails here with its own name.
#include <weft/detail/block_cache.hpp>
#include <weft/detail/injection_queue.hpp>
#include <weft/detail/work_stealing_deque.hpp>
#if defined(__unix__) || defined(__APPLE__)
#include <weft/detail/ipc.hpp>
#include <weft/detail/shm_ring.hpp>

#include <fcntl.h>
#include <poll.h>
#endif

#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

// ---- injection_queue ----

struct numbered_node : weft::detail::queue_node {
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;
};

// Pops until a node comes out or the queue is empty. A producer between its
// exchange and its link makes pop() return nullptr while size() > 0 (the
// algorithm's documented caveat): that means "retry", never "empty".
numbered_node* pop_when_linked(weft::detail::injection_queue& q) {
  while (q.size() > 0)
    if (auto* n = q.pop()) return static_cast<numbered_node*>(n);
  return nullptr;
}

}  // namespace

TEST_CASE("injection_queue: one thread gets its nodes back in push order", "[detail]") {
  weft::detail::injection_queue q;
  CHECK(q.pop() == nullptr);
  std::vector<numbered_node> nodes(100);
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    nodes[i].seq = i;
    q.push(&nodes[i]);
  }
  CHECK(q.size() == 100);
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    numbered_node* n = pop_when_linked(q);
    REQUIRE(n != nullptr);
    CHECK(n->seq == i);
  }
  CHECK(q.size() == 0);
  CHECK(q.pop() == nullptr);
  // Drained to the stub and refilled: the stub's re-insertion path.
  q.push(&nodes[7]);
  CHECK(pop_when_linked(q) == &nodes[7]);
  CHECK(q.pop() == nullptr);
}

TEST_CASE("injection_queue: many producers, two consumers: exactly once, FIFO per producer", "[detail][stress]") {
  constexpr int producers = 4, consumers = 2;
  const std::uint32_t per_producer = static_cast<std::uint32_t>(100'000 * weft_test::stress_scale());
  weft::detail::injection_queue q;
  std::vector<std::unique_ptr<numbered_node[]>> nodes;
  for (int p = 0; p < producers; ++p) nodes.push_back(std::make_unique<numbered_node[]>(per_producer));
  std::vector<std::vector<std::atomic<int>>> popped(producers);
  for (auto& p : popped) p = std::vector<std::atomic<int>>(per_producer);
  std::atomic<std::uint64_t> taken{0};
  const std::uint64_t total = std::uint64_t{producers} * per_producer;

  weft_test::run_threads(producers + consumers, [&](int id) {
    if (id < producers) {
      for (std::uint32_t i = 0; i < per_producer; ++i) {
        numbered_node& n = nodes[static_cast<std::size_t>(id)][i];
        n.producer = static_cast<std::uint32_t>(id);
        n.seq = i;
        q.push(&n);
      }
      return;
    }
    // Consumers are serialized by the queue's mutex, so each one sees every
    // producer's nodes in increasing order.
    std::vector<std::int64_t> last(producers, -1);
    while (taken.load(std::memory_order_relaxed) < total) {
      auto* n = static_cast<numbered_node*>(q.pop());
      if (n == nullptr) {
        std::this_thread::yield();
        continue;
      }
      taken.fetch_add(1, std::memory_order_relaxed);
      THREAD_CHECK(static_cast<std::int64_t>(n->seq) > last[n->producer]);
      last[n->producer] = n->seq;
      popped[n->producer][n->seq].fetch_add(1, std::memory_order_relaxed);
    }
  });
  CHECK_THREADS_OK();
  CHECK(taken.load() == total);
  CHECK(q.size() == 0);
  std::size_t wrong = 0;
  for (auto& p : popped)
    for (auto& count : p) wrong += count.load() != 1;
  CHECK(wrong == 0);
}

TEST_CASE("injection_queue: size() never counts below zero while pushes and pops race (pending ~2^64)",
          "[detail][stress]") {
  // A node used to be counted after it was linked: a consumer could pop
  // it first and take the count below zero (a size_t of ~2^64 for pending()).
  constexpr int producers = 6, consumers = 3;  // threads > cores: a producer is often preempted
  const std::uint32_t per_producer = static_cast<std::uint32_t>(200'000 * weft_test::stress_scale());
  weft::detail::injection_queue q;
  std::vector<std::unique_ptr<numbered_node[]>> nodes;
  for (int p = 0; p < producers; ++p) nodes.push_back(std::make_unique<numbered_node[]>(per_producer));
  const std::uint64_t total = std::uint64_t{producers} * per_producer;
  std::atomic<std::uint64_t> taken{0}, wrapped{0};
  weft_test::run_threads(producers + consumers + 1, [&](int id) {
    if (id < producers) {
      for (std::uint32_t i = 0; i < per_producer; ++i) q.push(&nodes[static_cast<std::size_t>(id)][i]);
    } else if (id < producers + consumers) {
      while (taken.load(std::memory_order_relaxed) < total) {
        if (q.pop() != nullptr) taken.fetch_add(1, std::memory_order_relaxed); else std::this_thread::yield();
        if (q.size() > total) wrapped.fetch_add(1, std::memory_order_relaxed);
      }
    } else {  // a pending() reader
      while (taken.load(std::memory_order_relaxed) < total)
        if (q.size() > total) wrapped.fetch_add(1, std::memory_order_relaxed);
    }
  });
  CHECK(wrapped.load() == 0);
  CHECK(q.size() == 0);
}

// ---- work_stealing_deque ----

TEST_CASE("work_stealing_deque: the owner pops LIFO, thieves steal FIFO, and it grows", "[detail]") {
  weft::detail::work_stealing_deque<int*> d(4);  // grows 4 -> 8 -> ... -> 1024
  std::vector<int> items(1000);
  CHECK(d.empty());
  CHECK(d.pop() == nullptr);
  CHECK(d.steal() == nullptr);
  for (int& x : items) d.push(&x);
  CHECK(d.size() == items.size());
  CHECK(d.steal() == &items[0]);
  CHECK(d.steal() == &items[1]);
  for (std::size_t i = items.size(); i-- > 2;) REQUIRE(d.pop() == &items[i]);
  CHECK(d.empty());
  CHECK(d.pop() == nullptr);
}

TEST_CASE("work_stealing_deque: pop_above and steal_above take only items at or above the floor", "[detail]") {
  weft::detail::work_stealing_deque<int*> d;
  int a = 0, b = 0, c = 0;
  d.push(&a);
  const std::int64_t floor = d.bottom_index();  // a task's own subtasks start here
  CHECK(d.steal_above(floor) == nullptr);         // a is below the floor
  d.push(&b);
  d.push(&c);
  CHECK(d.pop_above(floor) == &c);
  CHECK(d.pop_above(floor) == &b);
  CHECK(d.pop_above(floor) == nullptr);  // only a remains, below the floor
  CHECK(d.size() == 1);
  d.push(&b);
  CHECK(d.steal_above(floor) == nullptr);  // the oldest item (a) is below the floor
  CHECK(d.steal() == &a);
  CHECK(d.steal_above(floor) == &b);
  CHECK(d.empty());
}

TEST_CASE("work_stealing_deque: owner and thieves racing take every item exactly once", "[detail][stress]") {
  constexpr int thieves = 2;
  const std::size_t n = static_cast<std::size_t>(200'000 * weft_test::stress_scale());
  weft::detail::work_stealing_deque<std::uint32_t*> d(16);  // small: grows while thieves read
  std::vector<std::uint32_t> items(n);
  for (std::size_t i = 0; i < n; ++i) items[i] = static_cast<std::uint32_t>(i);
  std::vector<std::atomic<int>> taken(n);
  std::atomic<bool> owner_done{false};

  auto take = [&](std::uint32_t* item) { taken[*item].fetch_add(1, std::memory_order_relaxed); };
  weft_test::run_threads(1 + thieves, [&](int id) {
    if (id == 0) {
      // Mostly one item at a time, popped back after a varying pause: such
      // a pop is the last-item race against the thieves (one index, two
      // claimants). Every 64th item stays, so the deque also grows while
      // thieves read.
      for (std::size_t i = 0; i < n; ++i) {
        d.push(&items[i]);
        if (i % 64 == 0) continue;
        for (std::size_t k = 0; k < i % 128; ++k) weft::detail::cpu_relax();  // let a thief reach it
        if (auto* item = d.pop()) take(item);
      }
      while (auto* item = d.pop()) take(item);
      owner_done.store(true, std::memory_order_release);
      return;
    }
    while (!owner_done.load(std::memory_order_acquire) || !d.empty())
      if (auto* item = d.steal()) take(item);
  });
  std::size_t wrong = 0;
  for (auto& t : taken) wrong += t.load() != 1;
  CHECK(wrong == 0);
  CHECK(d.empty());
}

// ---- block_cache ----

TEST_CASE("block_cache: blocks of every size are writable and a freed block is reused", "[detail]") {
  using weft::detail::block_cache;
  for (std::size_t bytes : {1u, 64u, 65u, 200u, 512u, 513u, 4096u}) {
    void* p = block_cache::allocate(bytes);
    std::memset(p, 0xab, bytes);  // ASan reports it if the block is smaller
    block_cache::deallocate(p, bytes);
#if !defined(__SANITIZE_ADDRESS__)
    if (bytes <= 512) {  // a cached class: this thread gets its own block back
      void* again = block_cache::allocate(bytes);
      CHECK(again == p);
      block_cache::deallocate(again, bytes);
    }
#endif
  }
}

TEST_CASE("block_cache: blocks freed on other threads are never handed out twice", "[detail][stress]") {
  using weft::detail::block_cache;
  constexpr int threads = 3;
  constexpr std::size_t bytes = 96;  // the 128-byte class
  const int rounds = static_cast<int>(20 * weft_test::stress_scale());
  constexpr std::size_t per_round = 5'000;  // > the depot's batch of 64: spills and refills
  // Each thread allocates a batch, stamps every block with its id and the
  // round, checks the stamps survived, then hands the batch to the next
  // thread, which frees it. A block handed to two threads at once would
  // carry the other thread's stamp.
  std::vector<std::vector<void*>> handoff(threads);
  std::mutex handoff_mutex;
  weft_test::run_threads(threads, [&](int id) {
    for (int round = 0; round < rounds; ++round) {
      std::vector<void*> mine(per_round);
      for (auto& p : mine) {
        p = block_cache::allocate(bytes);
        const std::uint64_t stamp[2] = {static_cast<std::uint64_t>(id), static_cast<std::uint64_t>(round)};
        std::memcpy(p, stamp, sizeof stamp);
      }
      weft_test::let_others_run();
      for (void* p : mine) {
        std::uint64_t stamp[2];
        std::memcpy(stamp, p, sizeof stamp);
        THREAD_CHECK(stamp[0] == static_cast<std::uint64_t>(id) && stamp[1] == static_cast<std::uint64_t>(round));
      }
      std::vector<void*> theirs;
      {
        std::lock_guard lock(handoff_mutex);
        theirs = std::exchange(handoff[static_cast<std::size_t>(id)], {});
        handoff[static_cast<std::size_t>((id + 1) % threads)].insert(
            handoff[static_cast<std::size_t>((id + 1) % threads)].end(), mine.begin(), mine.end());
      }
      for (void* p : theirs) block_cache::deallocate(p, bytes);
    }
  });
  CHECK_THREADS_OK();
  for (auto& left : handoff)
    for (void* p : left) block_cache::deallocate(p, bytes);
}

// ---- self_pipe ----

#if defined(__unix__) || defined(__APPLE__)

namespace {
bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}
}  // namespace

TEST_CASE("self_pipe: notify makes the read end readable until drained; ends are non-blocking and close-on-exec",
          "[detail][fork]") {
  weft::detail::self_pipe pipe;
  for (int fd : {pipe.read_end(), pipe.write_end()}) {
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  }
  CHECK_FALSE(readable(pipe.read_end(), 0));
  pipe.notify();
  CHECK(readable(pipe.read_end(), 0));
  pipe.drain();
  CHECK_FALSE(readable(pipe.read_end(), 0));
  // Far more notifications than the pipe holds: notify() never blocks and
  // one drain() empties it (a blocking end hung the dispatcher).
  for (int i = 0; i < 200'000; ++i) pipe.notify();
  pipe.drain();
  CHECK_FALSE(readable(pipe.read_end(), 0));
}

TEST_CASE("self_pipe: a notify from another thread wakes a poll that blocks", "[detail][fork]") {
  weft::detail::self_pipe pipe;
  std::thread notifier([&] {
    weft_test::let_others_run();
    pipe.notify();
  });
  const int limit_ms = static_cast<int>(std::chrono::milliseconds(weft_test::hang_limit).count());
  CHECK(readable(pipe.read_end(), limit_ms));  // the limit only turns a hang into a failure
  notifier.join();
}


// ---- shm_ring (process_pool's shared-memory channel) ----

namespace {
using weft::detail::shm_ring;
std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((seed * 131 + i * 7) & 0xff);
  return v;
}
}  // namespace

TEST_CASE("shm_ring: records of every size and markers cross in order through many wraparounds", "[detail]") {
  auto ring = std::make_unique<shm_ring>();
  std::vector<std::byte> got;
  std::uint32_t pushed = 0, popped = 0;
  for (int round = 0; round < 2000; ++round) {
    // A few records in flight, sizes 0..inline_max, every 5th a marker.
    for (int k = 0; k < 3; ++k, ++pushed) {
      const bool marker = pushed % 5 == 4;
      const std::size_t n = (pushed * 2654435761u) % (shm_ring::inline_max + 1);
      REQUIRE(ring->try_push(pattern(marker ? 0 : n, pushed), marker));
    }
    while (popped < pushed) {
      bool marker = false;
      REQUIRE(ring->try_pop(got, marker) == shm_ring::status::record);
      const bool want_marker = popped % 5 == 4;
      CHECK(marker == want_marker);
      const std::size_t n = want_marker ? 0 : (popped * 2654435761u) % (shm_ring::inline_max + 1);
      REQUIRE(got == pattern(n, popped));
      ++popped;
    }
    bool marker = false;
    CHECK(ring->try_pop(got, marker) == shm_ring::status::empty);
  }
}

TEST_CASE("shm_ring: a full ring refuses a record and writes nothing", "[detail]") {
  auto ring = std::make_unique<shm_ring>();
  int accepted = 0;
  while (ring->try_push(pattern(shm_ring::inline_max, 1), false)) ++accepted;
  CHECK(accepted == static_cast<int>(shm_ring::capacity / (shm_ring::inline_max + 8)));
  std::vector<std::byte> got;
  bool marker = false;
  for (int i = 0; i < accepted; ++i) REQUIRE(ring->try_pop(got, marker) == shm_ring::status::record);
  CHECK(ring->try_pop(got, marker) == shm_ring::status::empty);
}

TEST_CASE("shm_ring: a producer and a consumer thread exchange every record once, in order", "[detail]") {
  auto ring = std::make_unique<shm_ring>();
  constexpr std::uint32_t n = 100'000;
  std::atomic<bool> ok{true};
  std::thread consumer([&] {
    std::vector<std::byte> got;
    for (std::uint32_t i = 0; i < n;) {
      bool marker = false;
      const auto s = ring->try_pop(got, marker);
      if (s == shm_ring::status::empty) {
        std::this_thread::yield();
        continue;
      }
      if (s != shm_ring::status::record || got != pattern(i % 97, i)) ok = false;
      ++i;
    }
  });
  for (std::uint32_t i = 0; i < n;)
    if (ring->try_push(pattern(i % 97, i), false)) {
      ++i;
    } else {
      std::this_thread::yield();
    }
  consumer.join();
  CHECK(ok.load());
}

TEST_CASE("shm_ring: revoke takes back exactly the records the consumer has not taken", "[detail]") {
  auto ring = std::make_unique<shm_ring>();
  std::vector<std::byte> got;
  bool marker = false;
  for (std::uint32_t i = 0; i < 3; ++i) REQUIRE(ring->try_push(pattern(10 + i, i), i == 1));
  REQUIRE(ring->try_pop(got, marker) == shm_ring::status::record);
  auto revoked = ring->revoke();
  REQUIRE(revoked.has_value());
  CHECK(*revoked == 2);
  CHECK(ring->try_pop(got, marker) == shm_ring::status::empty);
  CHECK(ring->revoke() == std::optional<std::size_t>(0));
  // Racing: whatever the consumer takes is never also revoked, and nothing is lost.
  for (int round = 0; round < 200; ++round) {
    auto r = std::make_unique<shm_ring>();
    constexpr std::size_t records = 40;
    for (std::uint32_t i = 0; i < records; ++i) REQUIRE(r->try_push(pattern(i, i), false));
    std::atomic<std::size_t> taken{0};
    std::thread consumer([&] {
      std::vector<std::byte> frame;
      bool m = false;
      for (;;) {
        const auto s = r->try_pop(frame, m);
        if (s == shm_ring::status::record) {
          taken.fetch_add(1);
          continue;
        }
        if (s == shm_ring::status::revoked) continue;  // lost the race for this one: try the next
        return;                                        // empty: revoked or all taken
      }
    });
    auto back = r->revoke();
    consumer.join();
    REQUIRE(back.has_value());
    CHECK(taken.load() + *back == records);
  }
}

TEST_CASE("shm_ring: a scribbled ring reads as corrupt, never out of bounds", "[detail]") {
  auto ring = std::make_unique<shm_ring>();
  REQUIRE(ring->try_push(pattern(24, 3), false));
  auto* raw = reinterpret_cast<unsigned char*>(ring.get());
  std::vector<std::byte> got;
  bool marker = false;
  SECTION("a record longer than the ring may carry") {
    const std::uint64_t huge = std::uint64_t{1} << 40;
    std::memcpy(raw + shm_ring::data_offset(), &huge, sizeof huge);  // the first record's length word
    CHECK(ring->try_pop(got, marker) == shm_ring::status::corrupt);
    CHECK_FALSE(ring->revoke().has_value());
  }
  SECTION("a tail further ahead than the ring holds") {
    const std::uint64_t tail = shm_ring::capacity * 3;
    std::memcpy(raw + shm_ring::tail_offset(), &tail, sizeof tail);
    CHECK(ring->try_pop(got, marker) == shm_ring::status::corrupt);
  }
}

#endif

TEST_CASE("wait_policy::for_ with duration types that cannot hold the clock's range", "[detail]") {
  // duration_cast of "time left until steady_clock's max" into picoseconds or
  // into an int count of milliseconds overflows: every wait was forever.
  using weft::detail::wait_policy;
  const auto now = std::chrono::steady_clock::now();
  for (auto policy : {wait_policy::for_(std::chrono::duration<long long, std::pico>(50'000'000'000)),
                      wait_policy::for_(std::chrono::duration<int, std::milli>(50)),
                      wait_policy::for_(std::chrono::duration<short, std::milli>(50)),
                      wait_policy::for_(std::chrono::duration<double>(0.05))}) {
    REQUIRE(policy.has_deadline());
    CHECK(policy.deadline() >= now + std::chrono::milliseconds(50));
    CHECK(policy.deadline() < now + std::chrono::hours(1));
  }
  CHECK(wait_policy::for_(std::chrono::hours::max()).deadline() == weft::detail::steady_time::max());
  CHECK(wait_policy::for_(std::chrono::duration<long long, std::pico>::max()).deadline() >= now);
}
