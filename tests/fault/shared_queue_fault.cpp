// weft — MIT licence. See LICENSE.
// shared_queue with processes killed at the worst moment: while they hold a
// stamped slot (between claiming it and publishing), through the header's
// test-only fault-injection hook.
#include <csignal>
#include <cstring>

namespace weft_fault {
// In a victim process: the n-th claim on `side` kills the process.
inline const char* kill_side = nullptr;
inline long kill_countdown = -1;
inline void after_claim(const char* side) {
  if (kill_side != nullptr && std::strcmp(side, kill_side) == 0 && --kill_countdown == 0) ::raise(SIGKILL);
}
}  // namespace weft_fault
#define WEFT_TEST_HOOK_AFTER_CLAIM(side) ::weft_fault::after_claim(side)

#include <weft/shared_queue.hpp>

#include "support.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
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
