// weft — MIT licence. See LICENSE.
// Tests for <weft/atomic_ref.hpp>. Built twice: as std::atomic_ref, and with
// WEFT_ATOMIC_REF_FALLBACK, the implementation used where the standard
// library has no std::atomic_ref (libc++ 14).
#include <weft/atomic_ref.hpp>

#include "support.hpp"

#include <cstdint>

TEST_CASE("atomic_ref: load, store, exchange, compare_exchange", "[atomic_ref]") {
  std::int64_t x = 5;
  weft::atomic_ref<std::int64_t> r(x);
  CHECK(r.load() == 5);
  r.store(7);
  CHECK(x == 7);
  CHECK(r.exchange(9) == 7);
  std::int64_t expected = 1;
  CHECK_FALSE(r.compare_exchange_strong(expected, 2));
  CHECK(expected == 9);
  CHECK(r.compare_exchange_strong(expected, 2));
  CHECK(x == 2);
}

TEST_CASE("atomic_ref: fetch_add from many threads loses nothing, integral and floating",
          "[atomic_ref]") {
  std::int64_t count = 0;
  double total = 0;
  constexpr int threads = 4, per_thread = 100'000;
  weft_test::run_threads(threads, [&](int) {
    for (int i = 0; i < per_thread; ++i) {
      weft::atomic_ref<std::int64_t>(count).fetch_add(1);
      weft::atomic_ref<double>(total).fetch_add(0.5);
    }
  });
  CHECK(count == threads * per_thread);
  CHECK(total == threads * per_thread * 0.5);
  CHECK(weft::atomic_ref<std::int64_t>(count).fetch_sub(4) == threads * per_thread);
  CHECK(weft::atomic_ref<double>(total).fetch_sub(1.0) == threads * per_thread * 0.5);
}
