// weft — MIT licence. See LICENSE.
//
// <weft/detail/wait.hpp> — internal: how every weft operation that can wait
// waits. Not API.
//
// - wait_policy: one blocking loop serves the plain (forever), try_ (never)
//   and _for/_until (deadline) variants of an operation, as in folly's
//   SharedMutex.
// - futex_wait / futex_wake: Linux futexes with an absolute CLOCK_MONOTONIC
//   deadline. `process_shared` drops FUTEX_PRIVATE_FLAG so a waiter in one
//   process is woken by a waker in another (libstdc++'s std::atomic::wait
//   uses private futexes and cannot do that). Elsewhere (or on Linux with
//   WEFT_PORTABLE_WAIT defined, which CI uses to test this path) the
//   portable wait: std::atomic::wait/notify for process-private words, and
//   for process-shared words polling with sleeps that grow from 50 us to
//   2 ms, bounded by the deadline, because no portable primitive wakes a
//   waiter in another process.
// - parking_word: a 32-bit word plus a sleeper count. Waiters spin briefly,
//   then sleep on the word; changers wake only when somebody sleeps, so the
//   uncontended path makes no system call.
// - activity_window, poll_backoff: for the pools' message loops (sockets,
//   MPI), which poll for a short while after each message before they sleep.
#pragma once

#include <weft/detail/config.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <bit>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <thread>

#if defined(__linux__) && !defined(WEFT_PORTABLE_WAIT)
#define WEFT_LINUX_FUTEX 1
#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace weft::detail {

using steady_time = std::chrono::steady_clock::time_point;

// How long a waiting operation may wait.
class wait_policy {
 public:
  static wait_policy forever() noexcept { return wait_policy(kind::forever, {}); }
  static wait_policy never() noexcept { return wait_policy(kind::never, {}); }
  static wait_policy until(steady_time deadline) noexcept {
    return wait_policy(kind::until, deadline);
  }
  // Converts a deadline on any clock to the steady clock, as the standard
  // asks of try_lock_until: later adjustments of that clock are not followed.
  template <class Clock, class Duration>
  static wait_policy until(std::chrono::time_point<Clock, Duration> deadline) {
    if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
      return until(std::chrono::time_point_cast<steady_time::duration>(deadline));
    } else {
      auto left = deadline - Clock::now();
      return until(std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<steady_time::duration>(left));
    }
  }
  template <class Rep, class Period>
  static wait_policy for_(std::chrono::duration<Rep, Period> d) {
    // Saturate so that huge durations (hours::max()) mean "practically
    // forever". The comparison is in floating-point seconds: converting the
    // clock's remaining range into d's type overflows for fine or narrow
    // types (picoseconds, an int of milliseconds), making every wait forever.
    using seconds = std::chrono::duration<long double>;
    auto now = std::chrono::steady_clock::now();
    auto room = steady_time::max() - now;
    if (d <= d.zero()) return until(now);
    if (seconds(d) >= seconds(room) / 2) return until(steady_time::max());
    return until(now + std::chrono::ceil<steady_time::duration>(seconds(d)));
  }

  bool may_sleep() const noexcept { return kind_ != kind::never; }
  bool has_deadline() const noexcept { return kind_ == kind::until; }
  steady_time deadline() const noexcept { return deadline_; }
  bool expired() const noexcept {
    switch (kind_) {
      case kind::forever: return false;
      case kind::never: return true;
      case kind::until: return std::chrono::steady_clock::now() >= deadline_;
    }
    return true;
  }

 private:
  enum class kind { forever, never, until };
  wait_policy(kind k, steady_time d) noexcept : kind_(k), deadline_(d) {}
  kind kind_;
  steady_time deadline_;
};

enum class futex_scope { process_private, process_shared };

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words must be plain lock-free 32-bit atomics");

// Sleeps while `word == expected`, until woken, a spurious wake-up, or the
// policy's deadline. Returns false only when the deadline has passed.
// Callers always re-check their condition: a true return proves nothing.
inline bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       const wait_policy& policy, futex_scope scope) noexcept {
  if (!policy.may_sleep()) return false;
#if defined(WEFT_LINUX_FUTEX)
  timespec abs{};
  timespec* abs_ptr = nullptr;
  if (policy.has_deadline()) {
    if (policy.expired()) return false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  policy.deadline().time_since_epoch()).count();
    abs.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    abs.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    abs_ptr = &abs;
  }
  int op = FUTEX_WAIT_BITSET | (scope == futex_scope::process_private ? FUTEX_PRIVATE_FLAG : 0);
  // steady_clock is CLOCK_MONOTONIC on Linux, which FUTEX_WAIT_BITSET uses
  // for its absolute timeout unless FUTEX_CLOCK_REALTIME is given.
  long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, expected,
                      abs_ptr, nullptr, FUTEX_BITSET_MATCH_ANY);
  if (rc == -1 && errno == ETIMEDOUT) return false;
  return true;
#else
  if (scope == futex_scope::process_private && !policy.has_deadline()) {
    word.wait(expected, std::memory_order_seq_cst);  // woken by futex_wake's notify
    return true;
  }
  // Timed, or shared with other processes (whose notify cannot reach us):
  // poll, sleeping a little longer each time, never past the deadline.
  auto pause = std::chrono::microseconds(50);
  while (word.load(std::memory_order_seq_cst) == expected) {
    if (policy.expired()) return false;
    auto nap = pause;
    if (policy.has_deadline()) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(policy.deadline() -
                                                                        std::chrono::steady_clock::now());
      nap = std::clamp(left, std::chrono::microseconds(1), pause);
    }
    std::this_thread::sleep_for(nap);
    if (pause < std::chrono::milliseconds(2)) pause *= 2;
  }
  return true;
#endif
}

// The low 32 bits of a 64-bit atomic word, as a futex word: every change of
// those bits wakes or fails a futex_wait on it (used by shared_queue, whose
// slot words carry a sequence number low and an owner pid high).
inline std::atomic<std::uint32_t>& low_half(std::atomic<std::uint64_t>& word) noexcept {
  static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && sizeof(std::atomic<std::uint32_t>) == 4);
  auto* base = reinterpret_cast<unsigned char*>(&word);
  if constexpr (std::endian::native == std::endian::little) {
    return *reinterpret_cast<std::atomic<std::uint32_t>*>(base);
  } else {
    return *reinterpret_cast<std::atomic<std::uint32_t>*>(base + 4);
  }
}

inline void futex_wake(std::atomic<std::uint32_t>& word, int count, futex_scope scope) noexcept {
#if defined(WEFT_LINUX_FUTEX)
  int op = FUTEX_WAKE | (scope == futex_scope::process_private ? FUTEX_PRIVATE_FLAG : 0);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, count, nullptr, nullptr, 0);
#else
  // Process-shared waiters poll; process-private ones sleep in atomic::wait.
  if (scope == futex_scope::process_shared) return;
  if (count == 1) word.notify_one(); else word.notify_all();
#endif
}

// Spin iterations before a waiter goes to sleep. Short: on an oversubscribed
// machine a spinning waiter steals the CPU from the thread it waits for.
inline constexpr int spin_limit = 64;
// Then a few sched_yield()s: they hand the CPU to a runnable thread (often
// the one we wait for) and cost far less than a futex sleep and wake-up
// when the wait is a few microseconds. Still bounded: then we sleep.
inline constexpr int yield_limit = 16;

// The waiting every sleeper does first: spin_limit relaxed spins, then
// yield_limit yields, checking stop() before each. stopped: stop() held
// (the caller returns); expired: the policy's deadline passed during the
// yields; sleep: neither, go to sleep. stop() also decides what a policy
// that may not sleep does (it returns true for it).
enum class spin_outcome { stopped, expired, sleep };
template <class Stop>
spin_outcome spin_then_yield(const wait_policy& policy, Stop stop) {
  for (int i = 0; i < spin_limit + yield_limit; ++i) {
    if (stop()) return spin_outcome::stopped;
    if (i < spin_limit) {
      cpu_relax();
    } else {
      if (policy.expired()) return spin_outcome::expired;
      std::this_thread::yield();
    }
  }
  return spin_outcome::sleep;
}

// A 32-bit futex word with a count of sleepers.
//
// Protocol (Dekker-style; both sides seq_cst):
//   waiter:  (W1) sleepers += 1   (W2) re-read value   (W3) futex_wait(value)
//   changer: (C1) change value    (C2) read sleepers    (C3) wake if > 0
// Either C2 sees W1 and wakes, or W2 sees C1 and does not sleep; a change
// between W2 and W3 makes the kernel's value check in W3 fail. A waiter
// whose give_up() condition is published by an asymmetric handshake (see
// asymmetric_fence) passes its heavy() as `fence`: it runs between W1 and W2,
// and when it returns false (the handshake may have been missed) the waiter
// does not sleep this time and returns std::nullopt, as for give_up().
// `spin` false skips the spin and yields: a caller that did its own,
// cheaper spin first calls ready() and give_up() only around a sleep.
template <futex_scope Scope = futex_scope::process_private>
struct parking_word {
  std::atomic<std::uint32_t> value{0};     // the protocol's state; meaning is the owner's
  std::atomic<std::uint32_t> sleepers{0};  // threads between W1 and their decrement

  static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
                "parking_word may live in shared memory: it must be address-free");

  struct no_fence {
    bool operator()() const noexcept { return true; }
  };
  // Waits until ready(value) holds and returns that value; std::nullopt when
  // the policy expires first, or when give_up() becomes true before a sleep.
  template <class Ready, class GiveUp, class Fence = no_fence>
  std::optional<std::uint32_t> await(Ready ready, GiveUp give_up, const wait_policy& policy, Fence fence = {},
                                     bool spin = true) {
    std::uint32_t seen = 0;
    auto settled = [&] {
      seen = value.load(std::memory_order_acquire);  // acquire: pairs with the changer's C1
      return ready(seen) || !policy.may_sleep() || give_up();
    };
    if (!spin) {
      if (settled()) return ready(seen) ? std::optional<std::uint32_t>(seen) : std::nullopt;
    } else if (spin_then_yield(policy, settled) == spin_outcome::stopped) {
      return ready(seen) ? std::optional<std::uint32_t>(seen) : std::nullopt;
    }
    for (;;) {
      sleepers.fetch_add(1, std::memory_order_seq_cst);                 // W1
      const bool ordered = fence();
      std::uint32_t v = value.load(std::memory_order_seq_cst);          // W2
      bool stop = ready(v) || !ordered || give_up();
      bool in_time = stop || futex_wait(value, v, policy, Scope);       // W3
      sleepers.fetch_sub(1, std::memory_order_relaxed);
      if (stop) return ready(v) ? std::optional<std::uint32_t>(v) : std::nullopt;
      if (!in_time) {
        v = value.load(std::memory_order_acquire);
        return ready(v) ? std::optional<std::uint32_t>(v) : std::nullopt;
      }
    }
  }
  template <class Ready>
  std::optional<std::uint32_t> await(Ready ready, const wait_policy& policy) {
    return await(ready, [] { return false; }, policy);
  }

  // C2 + C3: call after every seq_cst change of `value` waiters may care about.
  void wake_all() noexcept {
    if (sleepers.load(std::memory_order_seq_cst) != 0) futex_wake(value, INT32_MAX, Scope);
  }
  // The changer's whole protocol (C1-C3) for the two kinds of change:
  // publish a new value, or bump an epoch that waiters compare against.
  void store_and_wake(std::uint32_t v) noexcept {
    value.store(v, std::memory_order_seq_cst);  // C1
    wake_all();
  }
  void bump_and_wake(int how_many = INT32_MAX) noexcept {
    value.fetch_add(1, std::memory_order_seq_cst);  // C1
    if (sleepers.load(std::memory_order_seq_cst) != 0) futex_wake(value, how_many, Scope);
  }
};

// Python's task_done()/join() bookkeeping, shared by bounded_queue and
// shared_queue. The counters live where their owner keeps them (producer
// and consumer lines apart); these functions hold the protocol.
//   unfinished     items pushed and not yet marked done
//   popped_undone  items popped and not yet marked done (misuse check)
//   epoch          bumped whenever unfinished drops to 0; join() sleeps on it
template <futex_scope Scope>
struct task_tracking {
  // An item reached its consumer-visible end without a task_done() (e.g.
  // destroyed by a throwing move): count it as done.
  static void finish_one(std::atomic<std::uint64_t>& unfinished, parking_word<Scope>& epoch) noexcept {
    // acq_rel: the finishing thread's work happens before join() returns.
    if (unfinished.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      epoch.bump_and_wake();
    }
  }
  // Throws std::logic_error (message `misuse`) if nothing popped is undone.
  static void task_done(std::atomic<std::uint64_t>& popped_undone, std::atomic<std::uint64_t>& unfinished,
                        parking_word<Scope>& epoch, const char* misuse) {
    std::uint64_t popped = popped_undone.load(std::memory_order_relaxed);
    do {
      if (popped == 0) throw std::logic_error(misuse);
    } while (!popped_undone.compare_exchange_weak(popped, popped - 1, std::memory_order_relaxed));
    finish_one(unfinished, epoch);
  }
  static void join(const std::atomic<std::uint64_t>& unfinished, parking_word<Scope>& epoch) {
    for (;;) {
      std::uint32_t seen = epoch.value.load(std::memory_order_seq_cst);
      if (unfinished.load(std::memory_order_acquire) == 0) return;
      epoch.await([seen](std::uint32_t v) { return v != seen; }, wait_policy::forever());
    }
  }
};

// When the last message came. A pool's message loop that just handled one
// usually gets the next within microseconds (the next task of a batch, the
// reply to the task it just sent), while waking a sleeping thread or process
// costs tens of microseconds on a busy machine. So a loop polls, yielding
// the core, while the window is open, and sleeps once it has closed.
class activity_window {
 public:
  using clock = std::chrono::steady_clock;
  explicit activity_window(std::chrono::microseconds width) noexcept : width_(width) {}
  void mark() noexcept { last_ = clock::now(); }
  // Open: a message came within the width, and no yield found the machine
  // contended within contended_hold.
  bool open() const noexcept {
    const auto now = clock::now();
    return now - last_ < width_ && now >= contended_until_;
  }
  clock::duration idle() const noexcept { return clock::now() - last_; }
  // A sched_yield() while the window is open. One that kept the caller off
  // the core for longer than contended_yield handed it to a program that
  // runs whole time slices (more runnable threads than cores): spinning
  // then costs a time slice per message (measured: 150-500 round trips/s
  // with two busy loops beside a pool of 1, against 14-54k when the loops
  // sleep at once, since a woken peer preempts). So the window stays shut
  // for contended_hold; the loop sleeps at once and is woken. The next
  // yield after that probes the machine again. The threshold is a
  // millisecond, under a time slice: a pool's own threads (the caller
  // serializing a map's chunks, the dispatcher) also take the core for a
  // few hundred microseconds at a time, and a 100 us threshold read that
  // as contention and put every worker to sleep after each chunk
  // (map_chunked 71-74M items/s against 79-93M; round trips beside two
  // busy loops: 23-70k/s at 100 us, 25-63k/s at 1 ms).
  void yield() noexcept {
    const auto before = clock::now();
    std::this_thread::yield();
    const auto after = clock::now();
    if (after - before > contended_yield) contended_until_ = after + contended_hold;
  }
  static constexpr auto contended_yield = std::chrono::microseconds(1000);
  static constexpr auto contended_hold = std::chrono::milliseconds(50);

 private:
  std::chrono::microseconds width_;
  clock::time_point last_ = clock::now();
  clock::time_point contended_until_{};
};

// The remote pools' window (process_pool's worker and dispatcher, mpi_pool's
// ranks): a round trip takes a few tens of microseconds, so 200 us covers
// the reply to a task just sent and the next task of a batch, and a loop
// that goes idle stops yielding after a fifth of a millisecond.
inline constexpr auto message_window = std::chrono::microseconds(200);

// For message loops that can only poll (MPI has no blocking wait that does
// not spin): yields while the activity window is open, then sleeps for
// growing intervals (an eighth of the idle time, 20 us to 1 ms), so an idle
// loop costs little CPU and a busy one little latency.
class poll_backoff {
 public:
  void reset() noexcept { window_.mark(); }
  // Waits a little; `sleep` is called with the chosen duration.
  template <class Sleep>
  void pause(Sleep sleep) {
    if (window_.open()) {
      std::this_thread::yield();
      return;
    }
    auto grown = std::chrono::duration_cast<std::chrono::microseconds>(window_.idle() / 8);
    sleep(std::clamp(grown, min_sleep, max_sleep));
  }

 private:
  // Below 20 us a sleep costs about what waking from it does; 1 ms bounds
  // how late an idle loop sees a message (and wakes it 1000 times a second).
  static constexpr auto min_sleep = std::chrono::microseconds(20);
  static constexpr auto max_sleep = std::chrono::microseconds(1000);
  activity_window window_{message_window};
};

}  // namespace weft::detail
