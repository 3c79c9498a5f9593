// weft — MIT licence. See LICENSE.
//
// <weft/rw_lock.hpp> — a fair reader-writer lock (Python has no built-in
// one; this is the lock a `threading.RLock`-guarded read-mostly cache wants),
// and synchronized<T>, a value reachable only through its lock.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/thread_index.hpp>
#include <weft/detail/wait.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <utility>

namespace weft {

// A reader-writer lock meeting the standard SharedTimedMutex requirements,
// so std::unique_lock, std::shared_lock and std::scoped_lock work with it.
//
// Fairness: writer-preferring with reader batching. A writer that arrives
//   stops new readers from entering and waits only for the readers already
//   inside, so a continuous stream of readers cannot starve it. When a writer
//   unlocks while readers are waiting, those readers form a batch that enters
//   before any other writer may lock, so a continuous stream of writers
//   cannot starve readers either. Writers among themselves are not ordered.
// Thread-safety: all members may be called concurrently. Not recursive: a
//   thread that locks twice (in any mode) deadlocks, as with std::shared_mutex.
//   unlock_shared() must run on the thread that locked shared.
// Blocking: lock()/lock_shared() spin briefly, then sleep on a futex; they
//   are woken by the unlock that lets them in. try_* never sleep; *_for and
//   *_until sleep at most until their deadline.
// Exceptions: none (all members are noexcept except the timed ones, which
//   may throw what the clock throws).
// Ordering: unlock() and unlock_shared() happen before the lock acquisitions
//   that follow them, as for std::shared_mutex.
// Cost: an uncontended read lock is one atomic increment on the reader's own
//   cache line plus one load of the shared state word (no shared write); a
//   write lock additionally reads every reader slot. Size: reader_slots
//   false-sharing ranges (2 KiB) plus two words.
// Lifetime: destroy only when unlocked and no thread waits.
//
// Design: distributed reader counters (as in folly's SharedMutex "deferred
// readers" and the BRAVO reader-bias idea) checked against one state word:
//   reader: (R1) slot += 1            (R2) read state; W clear -> inside
//   writer: (X1) set W in state       (X2) sum slots; 0 -> inside
// Both pairs are seq_cst (Dekker): either the reader sees W and backs off, or
// the writer sees the reader's count and waits for it to leave.
class rw_lock {
 public:
  rw_lock() noexcept = default;
  rw_lock(const rw_lock&) = delete;
  rw_lock& operator=(const rw_lock&) = delete;
  ~rw_lock() {
    // relaxed: destruction must not race with use, so nothing is left to order.
    WEFT_ASSERT(state_.value.load(std::memory_order_relaxed) == 0, "rw_lock destroyed while locked");
  }

  // ---- exclusive (writer) ----
  // Thread-safe. Blocks until no reader or writer is inside.
  void lock() noexcept { lock_exclusive(detail::wait_policy::forever()); }
  // Thread-safe. Never sleeps; false when any reader or writer is inside.
  bool try_lock() noexcept { return lock_exclusive(detail::wait_policy::never()); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return lock_exclusive(detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return lock_exclusive(detail::wait_policy::until(deadline));
  }
  // Thread-safe (the holder only). Lets waiting readers in first, as a batch.
  void unlock() noexcept { release_writer(); }

  // ---- shared (reader) ----
  // Thread-safe. Blocks while a writer is inside or waiting for readers to drain.
  void lock_shared() noexcept {
    if (!try_lock_shared()) lock_shared_slow(detail::wait_policy::forever());
  }
  // Thread-safe. Never sleeps; false when a writer is inside or about to be.
  bool try_lock_shared() noexcept {
    auto& slot = my_slot();
    slot.fetch_add(1, std::memory_order_seq_cst);                       // R1
    if ((state_.value.load(std::memory_order_seq_cst) & writer) == 0)   // R2
      return count_shared_hold(+1);
    leave_slot(slot);
    return false;
  }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_lock_shared() || lock_shared_slow(detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return try_lock_shared() || lock_shared_slow(detail::wait_policy::until(deadline));
  }
  // Thread-safe (a holder only, on the thread that locked).
  void unlock_shared() noexcept {
    count_shared_hold(-1);
    leave_slot(my_slot());
  }

  // Number of per-thread reader counters (threads share them modulo this).
  static constexpr std::size_t reader_slots = 16;

 private:
  // state_ bits:
  //   writer        set by the writer that wins (X1); cleared by its unlock
  //                 or by its timed lock giving up. At most one holder.
  //   reader_phase  set by a writer's unlock when readers wait; cleared by
  //                 the last of those readers to enter. While set, no writer
  //                 may set `writer` (this is the reader batch).
  //   waiting << 8  readers in lock_shared_slow(); incremented on entry,
  //                 decremented on exit (entered or timed out).
  // Never both writer and reader_phase: the writer bit is set only when
  // reader_phase is clear, and reader_phase is set in the same CAS that clears
  // writer.
  static constexpr std::uint32_t writer = 1, reader_phase = 2, waiting_one = 256;
  static std::uint32_t waiting_readers(std::uint32_t s) noexcept { return s / waiting_one; }

  // Debug builds count the shared locks each thread holds (of every
  // rw_lock): threads share reader slots, so a stray unlock_shared() on a
  // slot another thread holds would pass the slot's own check. Returns true.
  static bool count_shared_hold([[maybe_unused]] int delta) noexcept {
#if WEFT_ASSERTS_ON
    static thread_local long held = 0;
    WEFT_ASSERT(held + delta >= 0, "rw_lock::unlock_shared without a shared lock held by this thread");
    held += delta;
#endif
    return true;
  }

  using counter = std::atomic<std::uint32_t>;
  counter& my_slot() noexcept {
    return slots_[detail::this_thread_index() % reader_slots].value;
  }

  // Leaves a reader slot (unlock_shared, or backing off after R2 saw W).
  void leave_slot(counter& slot) noexcept {
    [[maybe_unused]] std::uint32_t before = slot.fetch_sub(1, std::memory_order_seq_cst);  // U1
    // Every decrement follows its own thread's increment of the same slot,
    // so a slot at 0 means an unlock_shared() without lock_shared().
    WEFT_ASSERT(before != 0, "rw_lock::unlock_shared without a shared lock held by this thread");
    // U2: a draining writer sleeps on drain_; bump it so the writer re-sums.
    // seq_cst pairs with X1/X2 (if X2 missed U1, this load sees X1's W).
    if (state_.value.load(std::memory_order_seq_cst) & writer) {
      drain_.bump_and_wake();
    }
  }
  std::uint32_t readers_inside() const noexcept {
    std::uint32_t sum = 0;  // wrapping sum: a slot may dip below zero transiently
    for (auto& s : slots_) sum += s.value.load(std::memory_order_seq_cst);  // X2
    return sum;
  }

  bool lock_exclusive(const detail::wait_policy& policy) noexcept;
  bool lock_shared_slow(const detail::wait_policy& policy) noexcept;
  void release_writer() noexcept;
  void stop_waiting_as_reader() noexcept;

  std::array<detail::padded<counter>, reader_slots> slots_{};  // readers inside, per thread group
  alignas(detail::false_sharing_range) detail::parking_word<> state_;  // bits above
  alignas(detail::false_sharing_range) detail::parking_word<> drain_;  // bumped by readers leaving while W
};

// A T reachable only through its lock (like folly::Synchronized): rlock() and
// wlock() return guards that act like pointers and unlock when destroyed.
//
// Thread-safety: every member may be called concurrently; the guarded value
//   may be touched only through a guard or with_rlock/with_wlock.
// Blocking: rlock()/wlock() block as Lock's lock_shared()/lock() do. With a
//   Lock that has no shared mode (e.g. std::mutex) rlock() locks exclusively.
// Exceptions: those of T's constructor and of f in with_*; the lock is
//   released when f throws.
// Lifetime: no guard may outlive the synchronized object.
template <class T, class Lock = rw_lock>
class synchronized {
  static constexpr bool has_shared_mode = requires(Lock& l) {
    l.lock_shared();
    l.unlock_shared();
  };
  using read_lock = std::conditional_t<has_shared_mode, std::shared_lock<Lock>, std::unique_lock<Lock>>;
  using write_lock = std::unique_lock<Lock>;

 public:
  // A pointer-like guard: holds the lock while it lives.
  template <class Value, class Guard>
  class locked_ptr {
   public:
    Value* operator->() const noexcept { return value_; }
    Value& operator*() const noexcept { return *value_; }
    // Releases the lock early; the guard must not be dereferenced afterwards.
    void unlock() { guard_.unlock(); value_ = nullptr; }

   private:
    friend class synchronized;
    locked_ptr(Value& v, Lock& l) : guard_(l), value_(&v) {}
    Guard guard_;
    Value* value_;
  };

  synchronized() = default;
  template <class... Args>
    requires std::is_constructible_v<T, Args...>
  explicit synchronized(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}
  explicit synchronized(const T& v) : value_(v) {}
  explicit synchronized(T&& v) : value_(std::move(v)) {}
  synchronized(const synchronized&) = delete;
  synchronized& operator=(const synchronized&) = delete;

  // Thread-safe. Blocks like Lock::lock_shared().
  locked_ptr<const T, read_lock> rlock() const { return {value_, lock_}; }
  // Thread-safe. Blocks like Lock::lock().
  locked_ptr<T, write_lock> wlock() { return {value_, lock_}; }

  // Calls f(const T&) under a read lock and returns its result.
  template <class F>
  decltype(auto) with_rlock(F&& f) const {
    read_lock guard(lock_);
    return std::forward<F>(f)(static_cast<const T&>(value_));
  }
  // Calls f(T&) under a write lock and returns its result.
  template <class F>
  decltype(auto) with_wlock(F&& f) {
    write_lock guard(lock_);
    return std::forward<F>(f)(value_);
  }

 private:
  mutable Lock lock_;
  T value_{};  // guarded by lock_
};

// ---- implementation ----

inline bool rw_lock::lock_exclusive(const detail::wait_policy& policy) noexcept {
  // Phase 1: become the writer (X1). Blocked by another writer and by a
  // reader batch. relaxed loads here and in the other CAS loops: they only
  // seed the compare-exchange, whose success order does the ordering.
  std::uint32_t s = state_.value.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & (writer | reader_phase)) == 0) {
      // seq_cst: X1 of the Dekker pair with R1/R2 (relaxed on failure: retry).
      if (state_.value.compare_exchange_weak(s, s | writer, std::memory_order_seq_cst,
                                             std::memory_order_relaxed))
        break;
      continue;
    }
    auto free = state_.await([](std::uint32_t v) { return (v & (writer | reader_phase)) == 0; },
                             policy);
    if (!free) return false;
    s = *free;
  }
  // Phase 2: wait for the readers already inside to leave (X2). New readers
  // back off (they see W in R2), so this wait is bounded by their sections.
  for (;;) {
    std::uint32_t epoch = drain_.value.load(std::memory_order_seq_cst);
    if (readers_inside() == 0) return true;
    if (!drain_.await([epoch](std::uint32_t v) { return v != epoch; }, policy)) {
      if (readers_inside() == 0) return true;
      release_writer();  // gave up: let waiting readers and writers in
      return false;
    }
  }
}

inline void rw_lock::release_writer() noexcept {
  std::uint32_t s = state_.value.load(std::memory_order_relaxed);  // seeds the CAS (see lock_exclusive)
  std::uint32_t next;
  do {
    WEFT_ASSERT((s & writer) != 0 && (s & reader_phase) == 0, "rw_lock::unlock without the write lock");
    next = s & ~writer;
    if (waiting_readers(s) != 0) next |= reader_phase;  // the waiting readers go next, as a batch
    // release: the writer's critical section happens before every later
    // acquisition (readers read state_ seq_cst in R2; writers CAS it).
  } while (!state_.value.compare_exchange_weak(s, next, std::memory_order_seq_cst,
                                               std::memory_order_relaxed));
  state_.wake_all();
}

inline bool rw_lock::lock_shared_slow(const detail::wait_policy& policy) noexcept {
  if (!policy.may_sleep()) return false;
  state_.value.fetch_add(waiting_one, std::memory_order_seq_cst);
  auto& slot = my_slot();
  for (;;) {
    auto open = state_.await([](std::uint32_t v) { return (v & writer) == 0; }, policy);
    if (!open) {
      stop_waiting_as_reader();
      return false;
    }
    slot.fetch_add(1, std::memory_order_seq_cst);                       // R1
    if ((state_.value.load(std::memory_order_seq_cst) & writer) == 0) { // R2
      stop_waiting_as_reader();
      return count_shared_hold(+1);
    }
    leave_slot(slot);  // a writer won X1 first (only possible outside a reader batch)
  }
}

// Drops this reader from the waiting count; the last reader of a batch ends
// the reader phase and wakes the writers it held back.
inline void rw_lock::stop_waiting_as_reader() noexcept {
  std::uint32_t s = state_.value.load(std::memory_order_relaxed);  // seeds the CAS (see lock_exclusive)
  std::uint32_t next;
  do {
    WEFT_ASSERT(waiting_readers(s) != 0, "rw_lock: waiting-reader count underflow");
    next = s - waiting_one;
    if (waiting_readers(next) == 0) next &= ~reader_phase;
    // seq_cst: one total order with writers' X1 and readers' R2, which read
    // reader_phase; relaxed on failure: retry with the fresh value.
  } while (!state_.value.compare_exchange_weak(s, next, std::memory_order_seq_cst,
                                               std::memory_order_relaxed));
  if ((s & reader_phase) && !(next & reader_phase)) state_.wake_all();
}

}  // namespace weft
