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
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace weft {

// A reader-writer lock meeting the standard SharedTimedMutex requirements,
// so std::unique_lock, std::shared_lock and std::scoped_lock work with it.
//
// Fairness: writer-preferring with reader batching. A writer that arrives
//   stops new readers from entering and waits only for the readers already
//   inside, so a continuous stream of readers cannot starve it. A reader
//   that meets a writer spins briefly; if it still cannot enter it counts
//   itself as waiting, and when a writer unlocks while readers are waiting,
//   those readers form a batch that enters before any other writer may
//   lock, so a continuous stream of writers cannot starve readers either.
//   Writers among themselves are not ordered.
// Thread-safety: all members may be called concurrently. Not recursive: a
//   thread that locks twice (in any mode) deadlocks, as with std::shared_mutex.
//   unlock_shared() must run on the thread that locked shared. At most
//   2^24 - 1 threads may hold one rw_lock shared at once (Linux allows at
//   most 2^22 threads in all).
// Blocking: lock()/lock_shared() spin briefly with backoff, yield a few
//   times, then sleep on a futex; they are woken by the unlock that lets
//   them in. try_* never sleep; *_for and *_until sleep at most until their
//   deadline.
// Exceptions: none (all members are noexcept except the timed ones, which
//   may throw what the clock throws).
// Ordering: unlock() and unlock_shared() happen before the lock acquisitions
//   that follow them, as for std::shared_mutex.
// Cost: the lock adapts to how it is used (a revocable reader bias, after
//   BRAVO: Dice and Kogan, USENIX ATC 2019):
//   - read-mostly (about 48 or more reads per write, averaged over the last
//     writes): a read lock is one atomic increment on the reader's own cache
//     line plus a load of the state word (no shared write); a write lock
//     additionally reads every reader slot.
//   - write-heavy (under about 24 reads per write): readers count
//     themselves in the state word (one atomic add to lock, one to unlock,
//     as tbb::spin_rw_mutex does) and an uncontended write lock is one
//     compare-exchange and no slot scan.
//   Unlocks make a system call only when a thread sleeps. No allocation.
//   Size: reader_slots + 3 false-sharing ranges (2.4 KiB).
// Lifetime: destroy only when unlocked and no thread waits.
//
// Protocol. Readers enter by one of two paths, picked by the bias bit B of
// the state word:
//   slot path (B set):      (R1) my slot += 1
//                           (R2) read state; W clear and B set -> inside
//   central path (B clear): (C1) state += one reader; the value it replaced
//                           had W and B clear -> inside
//   writer:                 (X1) set W in state (compare-exchange)
//                           (X2) B was set: sum the slots; else the central
//                           count X1 replaced; 0 -> inside, else wait for
//                           the readers to leave (await_drain).
// R1/R2 against X1/X2 is a Dekker pair (all seq_cst): either the reader sees
// W and backs off, or the writer sees the reader's count and waits for it.
// C1 and X1 are read-modify-writes of one word, so one sees the other.
// X1 linearizes a write lock, R2 or C1 a read lock.
// B changes only in a writer's unlock, while no reader is inside, so a
// reader leaves by the path it entered by; bias_mirror_ tells it which
// without a load of the state line. The unlocking writer picks B from a
// running average of reads per write (slots and the state word also count
// read attempts for it).
//
// Legal transitions of (W, reader_phase), R = readers inside:
//   (0,0) -X1-> (1,0)                 a writer wins (readers may still drain)
//   (1,0) -unlock, none waiting-> (0,0)
//   (1,0) -unlock, readers waiting-> (0,1)   the batch
//   (1,0) -timed lock gives up-> (0,0) or (0,1), as unlock, B unchanged
//   (0,1) -last waiting reader enters or gives up-> (0,0)
// Never (1,1). B flips only on the unlock edges, with R = 0.
class rw_lock {
 public:
  rw_lock() noexcept = default;
  rw_lock(const rw_lock&) = delete;
  rw_lock& operator=(const rw_lock&) = delete;
  ~rw_lock() {
    // relaxed: destruction must not race with use, so nothing is left to order.
    // (parked may stay set after a timed wait gave up.)
    WEFT_ASSERT((state_.load(std::memory_order_relaxed) & ~(bias | parked | reads_mask)) == 0,
                "rw_lock destroyed while locked");
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
  void unlock() noexcept { release_writer(true); }

  // ---- shared (reader) ----
  // Thread-safe. Blocks while a writer is inside or waiting for readers to drain.
  void lock_shared() noexcept {
    entry e = try_enter_shared(true);
    if (e == entry::inside) count_shared_hold(+1);
    else lock_shared_slow(detail::wait_policy::forever(), e == entry::waiting);
  }
  // Thread-safe. Never sleeps; false when a writer is inside or about to be.
  bool try_lock_shared() noexcept { return try_enter_shared(false) == entry::inside && count_shared_hold(+1); }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& timeout) {
    return try_lock_shared() || lock_shared_slow(detail::wait_policy::for_(timeout), false);
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return try_lock_shared() || lock_shared_slow(detail::wait_policy::until(deadline), false);
  }
  // Thread-safe (a holder only, on the thread that locked).
  void unlock_shared() noexcept {
    count_shared_hold(-1);
    // relaxed: bias_mirror_ equals the B this thread entered with: the
    // writer that last stored it did so before the unlock (release) that
    // this thread's R2 or C1 read (acquire), and no writer stores it again
    // before this thread has left.
    if (bias_mirror_.load(std::memory_order_relaxed)) {
      leave_slot(my_slot());
    } else {
      leave_central();
    }
  }

  // Number of per-thread reader counters (threads share them modulo this).
  static constexpr std::size_t reader_slots = 16;

 private:
  // state_ bits (64-bit word; waiters sleep on its low half, which holds
  // every bit they wait for):
  //   writer (W)     set by the writer that wins X1; cleared by its unlock or
  //                  by its timed lock giving up. At most one holder.
  //   reader_phase   set by a writer's unlock when readers wait; cleared by
  //                  the last of those readers to enter (or give up). While
  //                  set, no writer may set W (this is the reader batch).
  //   bias (B)       the readers' path: set = slot path, clear = central.
  //                  Changed only by a writer's unlock (release_writer with
  //                  pick_mode), when no reader is inside.
  //   parked         set by a thread about to sleep on the low half
  //                  (await_state); cleared, with a wake-up of all sleepers,
  //                  by the changes they wait for: a writer's unlock (W
  //                  clear) and the end of a reader batch (reader_phase
  //                  clear). Clear: nobody sleeps, unlocks make no syscall.
  //   drain_parked   set by the writer about to sleep until readers leave
  //                  (await_drain); cleared by the reader that wakes it (or
  //                  by the writer: it found them gone, or its unlock).
  //   waiting << 8   readers in lock_shared_slow(); incremented on entry,
  //                  decremented on exit (entered or timed out). 24 bits.
  //   readers << 32  central-path readers inside, plus readers between C1
  //                  and backing off (they saw W or B). 24 bits.
  //   reads << 56    central-path read attempts since the last X1, which
  //                  zeroes it; wraps (the carry leaves the word). 8 bits.
  // Never both W and reader_phase: W is set only when reader_phase is clear,
  // and reader_phase is set in the same CAS that clears W. Never a central
  // reader inside while B is set, nor a slot reader inside while B is clear.
  static constexpr std::uint64_t writer = 1, reader_phase = 2, bias = 4, parked = 8, drain_parked = 16;
  static constexpr std::uint64_t waiting_one = std::uint64_t{1} << 8;
  static constexpr std::uint64_t reader_one = std::uint64_t{1} << 32;
  static constexpr std::uint64_t read_one = std::uint64_t{1} << 56;
  static constexpr std::uint64_t reads_mask = ~std::uint64_t{0} << 56;
  static std::uint32_t waiting_readers(std::uint64_t s) noexcept { return (s >> 8) & 0xffffff; }
  static std::uint32_t central_readers(std::uint64_t s) noexcept { return (s >> 32) & 0xffffff; }
  static std::uint32_t central_reads(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s >> 56); }

  // Reader slots: holds in the low half (readers inside, plus readers
  // between R1 and backing off), read attempts in the high half (wraps).
  static constexpr std::uint64_t slot_enter = (std::uint64_t{1} << 32) + 1;

  // Bias hysteresis, in reads per write (averaged over about 8 writes):
  // below bias_off the next readers take the central path, above bias_on
  // the slot path. The rwlock bench's 90% and 50% mixes (9 and 1 reads per
  // write) run central, its 99% mix (99) biased.
  static constexpr std::uint32_t bias_off = 24, bias_on = 48;
  static constexpr std::uint32_t reads_cap = 255;  // one sample counts at most this much

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

  using slot_counter = std::atomic<std::uint64_t>;
  slot_counter& my_slot() noexcept {
    return slots_[detail::this_thread_index() % reader_slots].value;
  }

  // One attempt to enter as a reader by the path B picks. Never sleeps.
  // inside: entered. blocked: a writer holds W (inside, or draining
  // readers). waiting: the same, and may_wait asked to be counted among the
  // waiting readers (lock_shared_slow's registration): on the central path
  // the backing-off decrement and the registration are one atomic add, so
  // a reader that meets a writer costs the writer's line two
  // read-modify-writes, not three.
  enum class entry { inside, blocked, waiting };
  entry try_enter_shared(bool may_wait) noexcept {
    // relaxed: only a guess at the path (a reader racing a writer's unlock
    // may see the mirror before or after B changes); R2 and C1 read B
    // itself. The mirror's line is read-mostly, so the central path goes
    // straight to its one read-modify-write of the state line.
    bool slot_path = bias_mirror_.load(std::memory_order_relaxed);
    for (;;) {
      std::uint64_t s;
      if (slot_path) {
        auto& slot = my_slot();
        slot.fetch_add(slot_enter, std::memory_order_seq_cst);  // R1
        s = state_.load(std::memory_order_seq_cst);             // R2
        if ((s & (writer | bias)) == bias) return entry::inside;
        leave_slot(slot);  // W set, or B clear
      } else {
        // No load first: under contention a load then a read-modify-write
        // of the state line costs two transfers of it, the RMW alone one.
        s = state_.fetch_add(reader_one + read_one, std::memory_order_seq_cst);  // C1
        WEFT_ASSERT(central_readers(s) != 0xffffff, "rw_lock: more than 2^24 - 1 readers inside");
        if ((s & (writer | bias)) == 0) return entry::inside;
        if (may_wait && (s & (writer | bias)) == writer) {
          // Turn this reader's count into a waiting one (see leave_central
          // for the wake-up of a draining writer).
          std::uint64_t before = state_.fetch_add(waiting_one - reader_one, std::memory_order_seq_cst);
          if ((before & drain_parked) && central_readers(before) == 1) wake_drain();
          return entry::waiting;
        }
        leave_central();  // W set, or B set
      }
      if (s & writer) return entry::blocked;
      slot_path = (s & bias) != 0;  // the guess was stale: B changed under us
    }
  }

  // Leaves a reader slot (unlock_shared, or backing off after R2).
  void leave_slot(slot_counter& slot) noexcept {
    [[maybe_unused]] std::uint64_t before = slot.fetch_sub(1, std::memory_order_seq_cst);  // U1
    // Every decrement follows its own thread's increment of the same slot,
    // so a slot holding 0 means an unlock_shared() without lock_shared().
    WEFT_ASSERT((before & 0xffffffff) != 0, "rw_lock::unlock_shared without a shared lock held by this thread");
    // U2: a draining writer that went to sleep set drain_parked; wake it so
    // it re-sums. seq_cst: Dekker with its D1/D2 (await_drain): either D2's
    // sum sees U1, or this load sees D1's flag.
    if (state_.load(std::memory_order_seq_cst) & drain_parked) wake_drain();
  }
  // Leaves the central count (unlock_shared, or backing off after C1). The
  // last reader out wakes the draining writer if it went to sleep (its D1
  // and this decrement are read-modify-writes of one word: one sees the
  // other).
  void leave_central() noexcept {
    std::uint64_t before = state_.fetch_sub(reader_one, std::memory_order_seq_cst);  // U1'
    WEFT_ASSERT(central_readers(before) != 0, "rw_lock::unlock_shared without a shared lock held by this thread");
    if ((before & drain_parked) && central_readers(before) == 1) wake_drain();
  }

  struct slot_sums {
    std::uint32_t holds;  // readers inside (wrapping sum; transients included)
    std::uint32_t reads;  // read attempts ever (wrapping)
  };
  slot_sums sum_slots() const noexcept {
    // A slot's holds never go below zero (each decrement follows its own
    // thread's increment of the same slot) and stay far below 2^32, so the
    // low halves add without a carry into the high halves.
    std::uint64_t sum = 0;
    for (auto& s : slots_) sum += s.value.load(std::memory_order_seq_cst);  // X2
    return {static_cast<std::uint32_t>(sum), static_cast<std::uint32_t>(sum >> 32)};
  }

  // Waiting (spin()): park_spins checks with exponential backoff between
  // them (1, 2, 4 ... park_max_pauses pauses: about 110 in all), then
  // park_yields checks with a yield between them, then sleep on a futex.
  static constexpr int park_spins = 10, park_max_pauses = 16, park_yields = detail::yield_limit;
  template <class Done>
  static bool spin(const detail::wait_policy& policy, Done done);
  template <class Ready>
  std::optional<std::uint64_t> await_state(Ready ready, const detail::wait_policy& policy,
                                           bool spin_first = true) noexcept;
  template <class Drained>
  bool await_drain(Drained drained, const detail::wait_policy& policy) noexcept;
  void wake_state() noexcept {
    detail::futex_wake(detail::low_half(state_), INT32_MAX, detail::futex_scope::process_private);
  }
  void wake_drain() noexcept;
  bool lock_exclusive(const detail::wait_policy& policy) noexcept;
  bool drain_slots(const detail::wait_policy& policy) noexcept;
  bool drain_central(const detail::wait_policy& policy) noexcept;
  void note_reads(std::uint32_t reads) noexcept;
  void release_writer(bool pick_mode) noexcept;
  bool lock_shared_slow(const detail::wait_policy& policy, bool registered) noexcept;
  bool enter_registered(std::uint64_t s) noexcept;
  void stop_waiting_as_reader() noexcept;

  // Equal to B whenever a reader is inside (stored by the writer that
  // changes B, before its unlock publishes the change); a guess otherwise.
  // Alone on its line, which only such writers write.
  alignas(detail::false_sharing_range) std::atomic<bool> bias_mirror_{true};
  std::array<detail::padded<slot_counter>, reader_slots> slots_{};  // readers inside, per thread group
  alignas(detail::false_sharing_range) std::atomic<std::uint64_t> state_{bias};  // bits above
  // The writer's bookkeeping for picking B; guarded by W (written only by
  // the thread that holds it; W's acquire and release order the accesses).
  // On the state line: the writer owns that line when it touches them.
  std::uint32_t reads_per_write8_ = 8 * 2 * bias_on;  // 8 x running average of reads per write
  std::uint32_t slot_reads_seen_ = 0;                 // sum_slots().reads at the last slot drain
  std::uint64_t writer_seen_ = 0;                     // the state X1 left (seeds the unlock's CAS)
  // Futex word of a writer asleep in await_drain (an epoch: bumped by the
  // reader that clears drain_parked). Apart from the state line: written
  // only when the writer sleeps.
  alignas(detail::false_sharing_range) std::atomic<std::uint32_t> drain_{0};

  static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "rw_lock needs lock-free 64-bit atomics");
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

// The bounded spin every wait starts with: park_spins pauses, then
// park_yields yields (they hand the core to a runnable thread, often the one
// we wait for). true: done() held. false: go to sleep, or give up if the
// policy may not sleep or has expired (the caller checks).
template <class Done>
bool rw_lock::spin(const detail::wait_policy& policy, Done done) {
  // Exponential backoff between the checks (1, 2, 4 ... park_max_pauses
  // pauses, as oneTBB's atomic_backoff): fewer loads of a line the holder is
  // about to write.
  for (int i = 0, pauses = 1; i < park_spins + park_yields; ++i) {
    if (done()) return true;
    if (!policy.may_sleep()) return false;
    if (i < park_spins) {
      for (int k = 0; k < pauses; ++k) detail::cpu_relax();
      if (pauses < park_max_pauses) pauses *= 2;
    } else {
      if (policy.expired()) return false;
      std::this_thread::yield();
    }
  }
  return done();
}

// Waits until ready(state_) holds and returns that state; std::nullopt when
// the policy expires first (or may not sleep).
// Protocol (sleepers of state_'s low half):
//   waiter:  (P1) state |= parked, reading state   (P2) futex_wait(low half, as read)
//   changer: (P3) a CAS that makes ready() true clears parked   (P4) wake all if it was set
// P1 and P3 are read-modify-writes of one word, so one sees the other:
// either P1 reads the change and does not sleep, or P3 sees the flag and
// wakes; a change between P1 and P2 makes the kernel's value check fail.
template <class Ready>
std::optional<std::uint64_t> rw_lock::await_state(Ready ready, const detail::wait_policy& policy,
                                                   bool spin_first) noexcept {
  std::uint64_t v = 0;
  // acquire: pairs with the changer's release (P3).
  if (spin_first && spin(policy, [&] { return ready(v = state_.load(std::memory_order_acquire)); })) return v;
  for (;;) {
    if (!policy.may_sleep() || policy.expired()) return std::nullopt;
    v = state_.fetch_or(parked, std::memory_order_seq_cst);  // P1
    if (ready(v)) return v;
    bool in_time = detail::futex_wait(detail::low_half(state_), static_cast<std::uint32_t>(v | parked), policy,
                                      detail::futex_scope::process_private);  // P2
    v = state_.load(std::memory_order_acquire);  // acquire: as in the spin
    if (ready(v)) return v;
    if (!in_time) return std::nullopt;
  }
}

// Waits until drained() (which reads the reader counters seq_cst) holds;
// false when the policy expires first. Called with W held.
// Protocol (the writer asleep on drain_):
//   writer: (D0) read drain_   (D1) state |= drain_parked   (D2) drained()?
//           (D3) futex_wait(drain_, as read in D0)
//   reader: (U1) leave its counter   (U2) read drain_parked (or U1 returns it)
//           (U3) clear drain_parked; if it was set: bump drain_, wake
// D1/D2 against U1/U2 is a Dekker pair (seq_cst): either D2 sees the reader
// gone or U2 sees the flag; the bump comes after D0, so D3 does not sleep
// through it.
template <class Drained>
bool rw_lock::await_drain(Drained drained, const detail::wait_policy& policy) noexcept {
  if (spin(policy, drained)) return true;
  for (;;) {
    if (!policy.may_sleep() || policy.expired()) return drained();
    std::uint32_t epoch = drain_.load(std::memory_order_seq_cst);  // D0
    state_.fetch_or(drain_parked, std::memory_order_seq_cst);         // D1
    if (drained()) {                                                  // D2
      // relaxed: only spares a reader a needless wake-up.
      state_.fetch_and(~drain_parked, std::memory_order_relaxed);
      return true;
    }
    detail::futex_wait(drain_, epoch, policy, detail::futex_scope::process_private);  // D3
    if (drained()) return true;
  }
}

// U3 (see await_drain). Several readers may see the flag; one clears it.
inline void rw_lock::wake_drain() noexcept {
  if (state_.fetch_and(~drain_parked, std::memory_order_seq_cst) & drain_parked) {
    drain_.fetch_add(1, std::memory_order_seq_cst);
    detail::futex_wake(drain_, 1, detail::futex_scope::process_private);
  }
}

inline bool rw_lock::lock_exclusive(const detail::wait_policy& policy) noexcept {
  // Phase 1: become the writer (X1). Blocked by another writer and by a
  // reader batch. relaxed loads in the CAS loops: they only seed the
  // compare-exchange, whose success order does the ordering.
  // The first compare-exchange is seeded with a guess (unlocked, nobody
  // inside or waiting) instead of a load: on a contended line a load then
  // a compare-exchange costs two transfers, a failed guess one.
  std::uint64_t s = bias_mirror_.load(std::memory_order_relaxed) ? bias : 0;  // relaxed: a guess
  for (;;) {
    if ((s & (writer | reader_phase)) == 0) {
      // seq_cst: X1 of the Dekker pair with R1/R2 (relaxed on failure:
      // retry). Zeroes the central read count (it counts since X1).
      if (state_.compare_exchange_weak(s, (s | writer) & ~reads_mask, std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
        break;
      continue;
    }
    auto free = await_state([](std::uint64_t v) { return (v & (writer | reader_phase)) == 0; }, policy);
    if (!free) return false;
    s = *free;
  }
  // Phase 2 (X2): wait for the readers already inside to leave. New readers
  // back off (they see W in R2 or C1), so this wait is bounded by their
  // sections. s is the value X1 replaced; its B stays until our unlock.
  writer_seen_ = (s | writer) & ~reads_mask;
  if (s & bias) return drain_slots(policy);
  note_reads(central_reads(s));
  return central_readers(s) == 0 || drain_central(policy);
}

inline bool rw_lock::drain_slots(const detail::wait_policy& policy) noexcept {
  slot_sums sums{};
  if (await_drain([&] { return (sums = sum_slots()).holds == 0; }, policy)) {
    note_reads(sums.reads - slot_reads_seen_);
    slot_reads_seen_ = sums.reads;
    return true;
  }
  release_writer(false);  // gave up: let waiting readers and writers in
  return false;
}

inline bool rw_lock::drain_central(const detail::wait_policy& policy) noexcept {
  auto drained = [this] { return central_readers(state_.load(std::memory_order_seq_cst)) == 0; };
  if (await_drain(drained, policy)) return true;
  release_writer(false);  // gave up: let waiting readers and writers in
  return false;
}

// Folds one write's count of reads since the previous write into the
// running average (8 x average; each sample weighs 1/8). Called with W held.
inline void rw_lock::note_reads(std::uint32_t reads) noexcept {
  reads_per_write8_ -= reads_per_write8_ / 8;
  reads_per_write8_ += (reads < reads_cap ? reads : reads_cap);
}

// pick_mode: a writer that held the lock picks B for the readers that
// follow; a writer giving up (readers still inside) must not change it.
inline void rw_lock::release_writer(bool pick_mode) noexcept {
  // Seeded with the state X1 left (a guess, see lock_exclusive); the holder
  // of W is the only thread that changes B, so writer_seen_'s B is current.
  std::uint64_t s = writer_seen_;
  WEFT_ASSERT((state_.load(std::memory_order_relaxed) & writer) != 0, "rw_lock::unlock without the write lock");
  std::uint64_t mode = s & bias;
  if (pick_mode) {
    if (mode && reads_per_write8_ < 8 * bias_off) mode = 0;
    else if (!mode && reads_per_write8_ > 8 * bias_on) mode = bias;
    // relaxed: published by the CAS below (release), which every reader
    // that enters in the new mode reads (R2 or C1, acquire).
    if (mode != (s & bias)) bias_mirror_.store(mode != 0, std::memory_order_relaxed);
  }
  std::uint64_t next;
  do {
    WEFT_ASSERT((s & writer) != 0 && (s & reader_phase) == 0, "rw_lock::unlock without the write lock");
    next = (s & ~(writer | bias | parked | drain_parked)) | mode;
    if (waiting_readers(s) != 0) next |= reader_phase;  // the waiting readers go next, as a batch
    // seq_cst: release makes the writer's critical section happen before
    // every later acquisition (R2, C1, X1 read this word); P3 for the
    // sleepers (await_state).
  } while (!state_.compare_exchange_weak(s, next, std::memory_order_seq_cst, std::memory_order_relaxed));
  if (s & parked) wake_state();  // P4
}

// registered: try_enter_shared already counted this reader as waiting.
inline bool rw_lock::lock_shared_slow(const detail::wait_policy& policy, bool registered) noexcept {
  WEFT_ASSERT(policy.may_sleep() || !registered, "rw_lock: a waiting reader that may not wait");
  if (!policy.may_sleep()) return false;
  bool spun = false;
  if (!registered) {
    // A short write section ends within the spin: wait for it without
    // joining the waiting count, whose two read-modify-writes would take
    // the state line from the writer. Bounded, so a reader that waits
    // longer still gets the reader batch's guarantee.
    bool in = spin(policy, [this] {
      // relaxed: only a hint for when to try; try_enter_shared orders.
      return (state_.load(std::memory_order_relaxed) & writer) == 0 && try_enter_shared(false) == entry::inside;
    });
    if (in) return count_shared_hold(+1);
    if (policy.expired()) return false;
    state_.fetch_add(waiting_one, std::memory_order_seq_cst);
    spun = true;
  }
  for (;;) {
    auto open = await_state([](std::uint64_t v) { return (v & writer) == 0; }, policy, !spun);
    spun = false;
    if (!open) {
      stop_waiting_as_reader();
      return false;
    }
    if (enter_registered(*open)) return count_shared_hold(+1);
    // A writer won X1 first (only possible outside a reader batch); it will
    // see this thread among the waiting readers when it unlocks.
  }
}

// Enters as a reader that is counted as waiting, and stops waiting; s is a
// recent state. true: inside and no longer waiting; false: W is set again
// (still waiting). On the central path entering and leaving the waiting
// count are one compare-exchange (C1 for a waiting reader).
inline bool rw_lock::enter_registered(std::uint64_t s) noexcept {
  for (;;) {
    if (s & writer) return false;
    if (s & bias) {
      entry e = try_enter_shared(false);
      if (e == entry::inside) stop_waiting_as_reader();
      return e == entry::inside;
    }
    WEFT_ASSERT(waiting_readers(s) != 0, "rw_lock: waiting-reader count underflow");
    std::uint64_t next = s + reader_one + read_one - waiting_one;
    if (waiting_readers(next) == 0 && (next & reader_phase)) next &= ~(reader_phase | parked);  // P3
    // seq_cst: C1 (acquire: the last writer's unlock happens before this
    // reader's section); relaxed on failure: retry with the fresh value.
    if (state_.compare_exchange_weak(s, next, std::memory_order_seq_cst, std::memory_order_relaxed)) {
      if ((s & parked) && !(next & parked)) wake_state();  // P4
      return true;
    }
  }
}

// Drops this reader from the waiting count; the last reader of a batch ends
// the reader phase and wakes the writers it held back.
inline void rw_lock::stop_waiting_as_reader() noexcept {
  std::uint64_t s = state_.load(std::memory_order_relaxed);  // seeds the CAS (see lock_exclusive)
  std::uint64_t next;
  do {
    WEFT_ASSERT(waiting_readers(s) != 0, "rw_lock: waiting-reader count underflow");
    next = s - waiting_one;
    if (waiting_readers(next) == 0 && (next & reader_phase)) next &= ~(reader_phase | parked);  // P3
    // seq_cst: one total order with writers' X1 and readers' R2, which read
    // reader_phase; relaxed on failure: retry with the fresh value.
  } while (!state_.compare_exchange_weak(s, next, std::memory_order_seq_cst, std::memory_order_relaxed));
  if ((s & reader_phase) && !(next & reader_phase) && (s & parked)) wake_state();  // P4
}

}  // namespace weft
