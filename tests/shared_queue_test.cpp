// weft — MIT licence. See LICENSE.
// Tests for <weft/shared_queue.hpp>: single-process API, then forked
// producers and consumers with exact accounting, and processes SIGKILLed
// mid-stream. Label `fork`.
#include <weft/shared_memory.hpp>
#include <weft/shared_queue.hpp>

#include "support.hpp"

#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <unistd.h>

using namespace std::chrono_literals;
using weft::shared_queue;
using weft_test::exited_ok;
using weft_test::reap;
using weft_test::spawn;

using weft_test::tagged;

TEST_CASE("shared_queue: FIFO, try_* and timeouts in one process", "[shared_queue]") {
  CHECK_THROWS_AS(shared_queue<int>(0), std::invalid_argument);
  shared_queue<int> q(3);
  CHECK(q.capacity() == 3);
  CHECK(q.empty());
  CHECK_FALSE(q.try_pop());
  CHECK_FALSE(q.pop_for(5ms));
  for (int round = 0; round < 50; ++round) {
    q.push(round * 3);
    CHECK(q.try_push(round * 3 + 1));
    q.emplace(round * 3 + 2);
    CHECK(q.full());
    CHECK_FALSE(q.try_push(-1));
    CHECK_FALSE(q.try_push_for(-1, 2ms));
    for (int k = 0; k < 3; ++k) CHECK(*q.pop() == round * 3 + k);
  }
  CHECK(q.size() == 0);
}

namespace {
struct sample {  // an aggregate: no constructor from its fields
  double x;
  int y;
};
}  // namespace

// clang 14 has no parenthesized aggregate initialization: emplace(2.0, 2) did not compile.
TEST_CASE("shared_queue: emplace builds an aggregate from its fields", "[shared_queue]") {
  shared_queue<sample> q(2);
  q.emplace(2.5, 2);
  auto s = q.pop();
  REQUIRE(s);
  CHECK(s->x == 2.5);
  CHECK(s->y == 2);
}

namespace {
// Trivially copyable records that hold no address but that the field-by-
// field check of a task's argument cannot list: a C array field (the usual
// way to carry a name through shared memory), a class with private state, a
// record of more than 32 fields.
struct named_record {
  char name[32];
  int id;
};
class private_pair {
 public:
  private_pair() = default;
  private_pair(int a, int b) : a_(a), b_(b) {}
  int sum() const { return a_ + b_; }

 private:
  int a_ = 0, b_ = 0;
};
struct tagged_message {  // the classic tagged union of an IPC message
  int kind;
  union {
    int count;
    float ratio;
  };
};
struct wide_record {
  int f[5];
  double d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19, d20, d21, d22, d23,
      d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34;
};
}  // namespace

TEST_CASE("shared memory takes every trivially copyable type that holds no visible address", "[shared_queue]") {
  // Review of aba53ca: refusing addresses reused the check of a task's
  // argument, which also refuses what it cannot list (C arrays, private
  // state, more than 32 fields): these records did not compile.
  weft::shared_queue<named_record> names(2);
  named_record r{};
  std::strcpy(r.name, "alpha");
  r.id = 7;
  names.push(r);
  auto got = names.pop();
  REQUIRE(got);
  CHECK(std::string(got->name) == "alpha");
  CHECK(got->id == 7);

  weft::shared_queue<private_pair> pairs(1);
  pairs.push(private_pair(2, 3));
  CHECK(pairs.pop()->sum() == 5);

  // helper-31: a struct with an anonymous union (a structured binding
  // cannot name its fields) gave three errors from inside weft.
  weft::shared_queue<tagged_message> messages(1);
  tagged_message m{};
  m.kind = 2;
  m.ratio = 0.5f;
  messages.push(m);
  const auto read = messages.pop();
  CHECK(read->kind == 2);
  CHECK(read->ratio == 0.5f);

  weft::shared_array<wide_record> wide(1);
  wide[0].d34 = 1.5;
  CHECK(wide[0].d34 == 1.5);
  weft::shared_array<private_pair> pair_array(1, private_pair(4, 5));
  CHECK(pair_array[0].sum() == 9);
}

TEST_CASE("shared_queue: close delivers queued items, then nullopt; producers refused",
          "[shared_queue]") {
  shared_queue<int> q(4);
  q.push(1);
  q.push(2);
  q.close();
  q.close();
  CHECK(q.closed());
  CHECK_THROWS_AS(q.push(3), weft::queue_closed);
  CHECK_THROWS_AS(q.try_push(3), weft::queue_closed);
  CHECK(*q.pop() == 1);
  CHECK(*q.try_pop() == 2);
  CHECK_FALSE(q.pop());
  CHECK_FALSE(q.pop_for(1ms));
}

TEST_CASE("shared_queue: task_done and join", "[shared_queue]") {
  shared_queue<int> q(4);
  CHECK_THROWS_AS(q.task_done(), std::logic_error);
  q.push(1);
  q.push(2);
  q.pop();
  q.task_done();
  CHECK_THROWS_AS(q.task_done(), std::logic_error);
  pid_t child = spawn([&] {
    q.pop();
    q.task_done();
    return 0;
  });
  q.join();  // returns once the child marked the second item done
  CHECK(exited_ok(child));
}

TEST_CASE("shared_queue: blocked pop in another process is woken by push and by close",
          "[shared_queue][fork]") {
  shared_queue<int> q(2);
  pid_t child = spawn([&] {
    auto first = q.pop();  // blocks until the parent pushes
    auto second = q.pop();  // blocks until the parent closes
    return (first && *first == 42 && !second) ? 0 : 1;
  });
  weft_test::let_others_run();
  q.push(42);
  REQUIRE(weft_test::eventually([&] { return q.empty(); }));
  q.close();
  CHECK(exited_ok(child));
}

TEST_CASE("shared_queue: 2 producer and 2 consumer processes x 1M items, exactly once",
          "[shared_queue][fork][stress]") {
  constexpr std::uint32_t per_producer = 500000;
  constexpr int producers = 2, consumers = 2;
  shared_queue<tagged> q(1024);
  weft::shared_array<std::uint8_t> delivered(std::size_t{producers} * per_producer, 0);
  weft::shared_value<std::uint64_t> checksum(0), popped(0);
  std::vector<pid_t> consumer_pids;
  for (int c = 0; c < consumers; ++c)
    consumer_pids.push_back(spawn([&] {
      std::uint32_t last[producers];
      bool seen_any[producers] = {};
      std::uint64_t sum = 0, count = 0;
      int bad = 0;
      while (auto item = q.pop()) {
        if (seen_any[item->producer] && item->seq <= last[item->producer]) bad = 1;  // FIFO per producer
        seen_any[item->producer] = true;
        last[item->producer] = item->seq;
        std::size_t index = std::size_t{item->producer} * per_producer + item->seq;
        if (delivered.atomic(index).fetch_add(1) != 0) bad = 1;  // twice
        sum += index;
        ++count;
      }
      checksum.fetch_add(sum);
      popped.fetch_add(count);
      return bad;
    }));
  std::vector<pid_t> producer_pids;
  for (int p = 0; p < producers; ++p)
    producer_pids.push_back(spawn([&, p] {
      for (std::uint32_t s = 0; s < per_producer; ++s) {
        tagged item{static_cast<std::uint32_t>(p), s};
        if (s % 3 == 0) {
          while (!q.try_push(item)) std::this_thread::yield();
        } else {
          q.push(item);
        }
      }
      return 0;
    }));
  for (pid_t pid : producer_pids) CHECK(exited_ok(pid));
  q.close();
  for (pid_t pid : consumer_pids) CHECK(exited_ok(pid));
  const std::uint64_t total = std::uint64_t{producers} * per_producer;
  CHECK(popped.load() == total);
  CHECK(checksum.load() == total * (total - 1) / 2);
  std::size_t missing = 0;
  for (std::uint8_t d : delivered) missing += d == 1 ? 0 : 1;
  CHECK(missing == 0);
}

TEST_CASE("shared_queue: a consumer SIGKILLed mid-stream does not wedge the others",
          "[shared_queue][fork]") {
  constexpr std::uint32_t items = 200000, victim_share = 1000;
  shared_queue<std::uint32_t> q(64);
  weft::shared_array<std::uint8_t> delivered(items, 0);
  weft::shared_value<std::uint64_t> victim_count(0);
  pid_t victim = spawn([&] {
    while (auto v = q.pop()) {
      delivered.atomic(*v).fetch_add(1);
      if (victim_count.fetch_add(1) + 1 == victim_share) ::raise(SIGKILL);  // dies mid-stream
    }
    return 0;
  });
  pid_t survivor = spawn([&] {
    // Start once the victim has had its share, so that it surely dies first.
    if (!weft_test::eventually([&] { return victim_count.load() >= victim_share; })) return 2;
    int bad = 0;
    while (auto v = q.pop())
      if (delivered.atomic(*v).fetch_add(1) != 0) bad = 1;
    return bad;
  });
  pid_t producer = spawn([&] {
    for (std::uint32_t i = 0; i < items; ++i) q.push(i);
    return 0;
  });
  CHECK(WIFSIGNALED(reap(victim)));
  CHECK(exited_ok(producer));  // not wedged by the dead consumer
  REQUIRE(weft_test::eventually([&] { return q.empty(); }));
  q.close();
  CHECK(exited_ok(survivor));
  std::size_t twice = 0, missing = 0;
  for (std::uint8_t d : delivered) {
    twice += d > 1;
    missing += d == 0;
  }
  CHECK(victim_count.load() == victim_share);
  CHECK(twice == 0);
  CHECK(missing == 0);  // it died between operations: nothing lost
}

TEST_CASE("shared_queue: a producer SIGKILLed mid-stream loses at most its unfinished push",
          "[shared_queue][fork]") {
  constexpr std::uint32_t per_producer = 100000;
  shared_queue<tagged> q(16);
  weft::shared_value<std::uint64_t> victim_pushed(0);
  // Consumed items, recorded by the parent (the only consumer).
  std::vector<std::uint32_t> next_expected(2, 0);
  pid_t victim = spawn([&] {
    for (std::uint32_t s = 0;; ++s) {
      q.push(tagged{0, s % per_producer});
      victim_pushed.fetch_add(1);
    }
    return 0;
  });
  pid_t survivor = spawn([&] {
    for (std::uint32_t s = 0; s < per_producer; ++s) q.push(tagged{1, s});
    return 0;
  });
  int fifo_violations = 0;
  std::uint64_t from_victim = 0;
  bool killed = false;
  std::uint64_t survivor_items = 0;
  while (survivor_items < per_producer || !killed) {  // the victim pushes until killed
    auto item = q.pop_for(weft_test::hang_limit);
    REQUIRE(item);  // the survivor's items keep arriving: nothing is wedged
    if (item->seq != next_expected[item->producer] % per_producer) ++fifo_violations;
    next_expected[item->producer] = item->seq + 1;
    if (item->producer == 0) ++from_victim; else ++survivor_items;
    if (!killed && from_victim > 2000) {
      ::kill(victim, SIGKILL);
      killed = true;
    }
  }
  CHECK(killed);
  CHECK(WIFSIGNALED(reap(victim)));
  CHECK(exited_ok(survivor));
  while (auto item = q.try_pop()) ++from_victim;  // what the victim completed
  CHECK(fifo_violations == 0);
  // Every push the victim completed arrived; at most one more (in flight
  // when it died) may have been dropped or delivered.
  CHECK(from_victim >= victim_pushed.load());
  CHECK(from_victim <= victim_pushed.load() + 1);
}

TEST_CASE("shared_queue: by name between unrelated handles", "[shared_queue][fork]") {
  const std::string name = "weft-test-" + std::to_string(::getpid()) + "-queue";
  auto q = shared_queue<double>::create(name, 8);
  pid_t child = spawn([&] {
    auto other = shared_queue<double>::open(name);
    other.push(2.5);
    return 0;
  });
  CHECK(exited_ok(child));
  CHECK(*q.pop() == 2.5);
  CHECK_THROWS_AS(shared_queue<char>::open(name), std::invalid_argument);
  CHECK_THROWS_AS(shared_queue<double>::open(name + "-missing"), std::system_error);
}

// Issue 13 item 8: open() of a header with capacity 0 succeeded and the
// first push died with SIGFPE (ticket % capacity); a capacity whose size
// wraps around passed the size check. Every header field is now checked.
TEST_CASE("shared_queue: open of a corrupt header throws, never crashes", "[shared_queue]") {
  const std::string name = "weft-test-" + std::to_string(::getpid()) + "-corrupt-queue";
  auto q = shared_queue<double>::create(name, 8);
  // The control block starts: magic (0), element size (8), capacity (16).
  auto write_field = [&](std::size_t offset, std::uint64_t value) {
    auto raw = weft::shared_memory::open(name);
    std::memcpy(static_cast<std::byte*>(raw.data()) + offset, &value, sizeof value);
  };
  auto expect_corrupt = [&](std::uint64_t capacity) {
    write_field(16, capacity);
    try {
      auto other = shared_queue<double>::open(name);
      FAIL("opened a header with capacity " << capacity);
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  };
  expect_corrupt(0);
  expect_corrupt(std::uint64_t{1} << 58);  // x 64-byte slots wraps to 0
  expect_corrupt(9);                       // one slot more than the segment holds
  expect_corrupt(std::uint64_t{1} << 29);  // beyond the 2^28 the sequence arithmetic allows
  write_field(16, 8);
  write_field(8, sizeof(double) + 1);
  CHECK_THROWS_AS(shared_queue<double>::open(name), std::invalid_argument);  // not a queue of double
  write_field(8, sizeof(double));
  write_field(0, 0x1234);
  CHECK_THROWS_AS(shared_queue<double>::open(name), std::invalid_argument);  // not initialized
  write_field(0, 0x7765667471756531);  // "weftque1"
  auto other = shared_queue<double>::open(name);
  other.push(1.5);
  CHECK(*q.pop() == 1.5);
}

TEST_CASE("shared_queue: no children left unreaped, no /dev/shm entries left", "[shared_queue]") {
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);  // ECHILD: every child was reaped
  std::string prefix = "weft-test-" + std::to_string(::getpid()) + "-";
  std::size_t left = 0;
  for (auto& e : std::filesystem::directory_iterator("/dev/shm"))
    left += e.path().filename().string().rfind(prefix, 0) == 0;
  CHECK(left == 0);
}
