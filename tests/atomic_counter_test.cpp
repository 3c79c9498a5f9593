// weft — MIT licence. See LICENSE.
// Tests for <weft/atomic_counter.hpp>.
#include <weft/atomic_counter.hpp>

#include "support.hpp"

#include <cstdint>
#include <type_traits>

TEST_CASE("atomic_counter: increment and decrement return the new value", "[atomic_counter]") {
  weft::atomic_counter<> c;
  CHECK(c.value() == 0);
  CHECK(c.increment() == 1);
  CHECK(c.increment(5) == 6);
  CHECK(c.decrement() == 5);
  CHECK(c.decrement(10) == -5);
  CHECK(c.value() == -5);
  weft::atomic_counter<std::uint32_t> u(7);
  CHECK(u.increment(3) == 10u);
}

TEST_CASE("atomic_counter: exchange and compare_exchange", "[atomic_counter]") {
  weft::atomic_counter<int> c(3);
  CHECK(c.exchange(10) == 3);
  int expected = 4;
  CHECK_FALSE(c.compare_exchange(expected, 20));
  CHECK(expected == 10);  // the current value is loaded on failure
  CHECK(c.compare_exchange(expected, 20));
  CHECK(c.value() == 20);
}

TEST_CASE("atomic_counter: is lock-free and fills one cache line", "[atomic_counter]") {
  static_assert(sizeof(weft::atomic_counter<>) == 64);
  static_assert(alignof(weft::atomic_counter<std::int8_t>) == 64);
  static_assert(std::is_standard_layout_v<weft::atomic_counter<>>);
  weft::atomic_counter<> counters[2];
  auto gap = reinterpret_cast<char*>(&counters[1]) - reinterpret_cast<char*>(&counters[0]);
  CHECK(gap == 64);
}

TEST_CASE("atomic_counter: concurrent increments are exact", "[atomic_counter]") {
  weft::atomic_counter<> c;
  constexpr int per_thread = 200000;
  weft_test::run_threads(4, [&](int i) {
    for (int k = 0; k < per_thread; ++k) {
      if (i % 2 == 0) c.increment(); else c.increment(2);
    }
  });
  CHECK(c.value() == 2 * per_thread * 1 + 2 * per_thread * 2);
}

TEST_CASE("sharded_counter: add, value and reset", "[sharded_counter]") {
  weft::sharded_counter<> c;
  CHECK(c.value() == 0);
  c.add();
  c.add(41);
  CHECK(c.value() == 42);
  c.add(-2);
  CHECK(c.value() == 40);
  c.reset();
  CHECK(c.value() == 0);
}

TEST_CASE("sharded_counter: stripes are a power of two", "[sharded_counter]") {
  CHECK(weft::sharded_counter<>(0).stripes() == 1);
  CHECK(weft::sharded_counter<>(5).stripes() == 8);
  std::size_t n = weft::sharded_counter<>().stripes();
  CHECK((n & (n - 1)) == 0);
  CHECK(n >= 2);
}

TEST_CASE("sharded_counter: concurrent adds from more threads than stripes are exact",
          "[sharded_counter]") {
  weft::sharded_counter<std::uint64_t> c(2);
  constexpr int threads = 6, per_thread = 100000;
  weft_test::run_threads(threads, [&](int) {
    for (int k = 0; k < per_thread; ++k) c.add();
  });
  CHECK(c.value() == std::uint64_t{threads} * per_thread);
}
