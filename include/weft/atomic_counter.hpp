// weft — MIT licence. See LICENSE.
//
// <weft/atomic_counter.hpp> — counters for many threads (or processes).
//
// atomic_counter<T>: one lock-free integer on its own cache line; the C++
//   counterpart of a `multiprocessing.Value('q', lock=True)` used as a counter
//   or of a lock-guarded int in `threading`. Every operation is one atomic
//   instruction; it also works in memory shared between processes.
// sharded_counter<T>: for write-heavy counting from many threads: increments
//   land on per-thread stripes (no shared cache line), reads sum the stripes.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/thread_index.hpp>

#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>

namespace weft {

// A lock-free integer counter padded to a cache line (like a Python
// `multiprocessing.Value` used as a counter, minus the lock).
//
// Thread-safety: every member may run concurrently with every other, from any
//   thread, or from any process when the counter lives in shared memory (it
//   holds no pointers and is always lock-free). Construction and destruction
//   must not race with use.
// Blocking: never blocks.
// Exceptions: none; arithmetic wraps like unsigned arithmetic for unsigned T
//   and is undefined on signed overflow, as with std::atomic (C++20: wraps).
// Ordering: each read-modify-write is acq_rel and value() is acquire, so the
//   writes a thread made before increment() are visible to a thread whose
//   value() observes that increment (or a later one).
// Cost: one atomic instruction; the counter occupies one cache line.
template <class T = std::int64_t>
class alignas(detail::cache_line) atomic_counter {
  // A static_assert rather than a constraint: one error with the fix, instead
  // of a constraint failure followed by errors at every use of the counter.
  static_assert(std::integral<T> && !std::is_same_v<T, bool>,
                "weft::atomic_counter<T>: T must be an integral type other than bool "
                "(for a floating-point sum, add per thread and combine)");
  static_assert(std::atomic<T>::is_always_lock_free,
                "weft::atomic_counter<T>: T must be lock-free so the counter works in shared memory");

 public:
  using value_type = T;

  constexpr atomic_counter() noexcept = default;
  constexpr explicit atomic_counter(T initial) noexcept : value_(initial) {}
  atomic_counter(const atomic_counter&) = delete;
  atomic_counter& operator=(const atomic_counter&) = delete;

  // Memory orders below: the contract's "Ordering" — every RMW is acq_rel and
  // pairs with value()'s acquire load and with the other RMWs.

  // Adds n; returns the new value. Thread-safe. Never blocks. O(1).
  T increment(T n = 1) noexcept {
    return static_cast<T>(value_.fetch_add(n, std::memory_order_acq_rel) + n);
  }
  // Subtracts n; returns the new value. Thread-safe. Never blocks. O(1).
  T decrement(T n = 1) noexcept {
    return static_cast<T>(value_.fetch_sub(n, std::memory_order_acq_rel) - n);
  }
  // The current value (snapshot). Thread-safe. O(1).
  T value() const noexcept { return value_.load(std::memory_order_acquire); }
  // Replaces the value; returns the old one. Thread-safe. O(1).
  T exchange(T desired) noexcept { return value_.exchange(desired, std::memory_order_acq_rel); }
  // If the value equals `expected`, sets it to `desired` and returns true;
  // otherwise loads the current value into `expected` and returns false.
  // Never fails spuriously. Thread-safe. O(1).
  bool compare_exchange(T& expected, T desired) noexcept {
    return value_.compare_exchange_strong(expected, desired, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }

 private:
  std::atomic<T> value_{0};
  // The padding to a full line comes from alignas; the assert documents it.
};

static_assert(sizeof(atomic_counter<>) == detail::cache_line,
              "atomic_counter must fill exactly one cache line");

// A counter for many writers: add() touches a per-thread stripe, value() sums.
//
// Thread-safety: add() and value() may run concurrently from any threads.
//   reset() may run concurrently too, but an add() racing with reset() may be
//   kept or lost. Construction and destruction must not race with use.
// Blocking: never blocks.
// Exceptions: the constructor may throw std::bad_alloc; nothing else throws.
// Ordering: add() is relaxed: value() is exact once writers are quiescent
//   (joined, or synchronized with the reader some other way); while they run
//   it is a snapshot that may miss in-flight adds. Use atomic_counter when a
//   count must order other memory.
// Cost: add() is one uncontended atomic add on the caller's stripe; value()
//   and reset() are O(stripes). Stripes: twice the hardware threads, rounded
//   up to a power of two, each 128 bytes.
template <class T = std::int64_t>
class sharded_counter {
  // A static_assert rather than a constraint: one error with the fix, instead
  // of a constraint failure followed by errors at every use of the counter.
  static_assert(std::integral<T> && !std::is_same_v<T, bool>,
                "weft::sharded_counter<T>: T must be an integral type other than bool "
                "(for a floating-point sum, add per thread and combine)");

 public:
  using value_type = T;

  sharded_counter() : sharded_counter(default_stripes()) {}
  // Uses `stripes` stripes (rounded up to a power of two, at least 1).
  explicit sharded_counter(std::size_t stripes)
      : mask_(std::bit_ceil(stripes == 0 ? std::size_t{1} : stripes) - 1),
        stripes_(std::make_unique<detail::padded<std::atomic<T>>[]>(mask_ + 1)) {}
  sharded_counter(const sharded_counter&) = delete;
  sharded_counter& operator=(const sharded_counter&) = delete;

  // Adds n to the caller's stripe. Thread-safe. Never blocks. O(1).
  void add(T n = 1) noexcept {
    // relaxed: a pure count; value() is exact only after writers quiesce.
    stripes_[detail::this_thread_index() & mask_].value.fetch_add(n, std::memory_order_relaxed);
  }
  // Sum of all stripes (snapshot while writers run). Thread-safe. O(stripes).
  T value() const noexcept {
    T sum = 0;
    for (std::size_t i = 0; i <= mask_; ++i)
      sum = static_cast<T>(sum + stripes_[i].value.load(std::memory_order_relaxed));  // a sum: orders nothing
    return sum;
  }
  // Sets every stripe to zero. See thread-safety above. O(stripes).
  void reset() noexcept {
    // relaxed: reset() is not a synchronization point (see thread-safety above).
    for (std::size_t i = 0; i <= mask_; ++i) stripes_[i].value.store(0, std::memory_order_relaxed);
  }
  std::size_t stripes() const noexcept { return mask_ + 1; }

 private:
  static std::size_t default_stripes() noexcept {
    std::size_t hw = std::thread::hardware_concurrency();
    return 2 * (hw == 0 ? 1 : hw);
  }
  std::size_t mask_;                                            // stripes - 1; immutable
  std::unique_ptr<detail::padded<std::atomic<T>>[]> stripes_;   // atomic, relaxed
};

}  // namespace weft
