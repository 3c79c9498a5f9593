// weft — MIT licence. See LICENSE.
// Stress: counters under heavy contention from more threads than cores.
#include <weft/atomic_counter.hpp>

#include "support.hpp"

TEST_CASE("atomic_counter: 8 threads x 1M mixed increments and decrements",
          "[atomic_counter][stress]") {
  weft::atomic_counter<> c;
  const long per_thread = 1000000L * weft_test::stress_scale();
  weft_test::run_threads(8, [&](int id) {
    for (long i = 0; i < per_thread; ++i) {
      if (id % 4 == 3) c.decrement(); else c.increment();
    }
  });
  CHECK(c.value() == 8 * per_thread - 4 * per_thread);
}

TEST_CASE("sharded_counter: 8 threads x 1M adds, value exact after join",
          "[sharded_counter][stress]") {
  weft::sharded_counter<> c;
  const long per_thread = 1000000L * weft_test::stress_scale();
  weft_test::run_threads(8, [&](int id) {
    for (long i = 0; i < per_thread; ++i) c.add(id + 1);
  });
  CHECK(c.value() == per_thread * (8 * 9 / 2));
}
