// weft — MIT licence. See LICENSE.
//
// <weft/shared_queue.hpp> — a bounded MPMC queue in shared memory for
// trivially copyable items, exchanged between processes: the C++
// counterpart of multiprocessing.Queue / JoinableQueue. POSIX only.
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error "<weft/shared_queue.hpp> needs POSIX shared memory (Linux, macOS); it is not available on this platform"
#endif

#include <weft/detail/config.hpp>
#include <weft/detail/boundary_check.hpp>
#include <weft/detail/initialize.hpp>
#include <weft/detail/wait.hpp>
#include <weft/error.hpp>
#include <weft/shared_memory.hpp>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include <poll.h>
#include <signal.h>
#include <unistd.h>
#if defined(__linux__)
#include <dirent.h>
#include <sys/syscall.h>
#endif

// Fault injection for weft's own tests: a test may define
// WEFT_TEST_HOOK_AFTER_CLAIM(side) before including this header to run code
// (e.g. kill the process) while a slot is stamped. Never defined otherwise.
#if defined(WEFT_TEST_HOOK_AFTER_CLAIM)
#define WEFT_DETAIL_AFTER_CLAIM(side) WEFT_TEST_HOOK_AFTER_CLAIM(side)
#else
#define WEFT_DETAIL_AFTER_CLAIM(side) static_cast<void>(0)
#endif

namespace weft {

// A bounded MPMC FIFO of trivially copyable T living in shared memory, used
// by every process that maps it: those forked after the constructor, or any
// that open() it by name. The bounded_queue API without consume(). T holding
// an address (a pointer, std::string_view, std::span, a struct with one) is
// a compile-time error, as for a process_pool argument.
//
// Thread-safety: every member may be called concurrently from any thread of
//   any process; the handle itself is move-only and unsynchronized.
// Blocking: push() blocks while full, pop() while empty: a short spin, then a
//   sleep on a process-shared futex (std::atomic::wait cannot wake another
//   process), woken by the operation that frees or fills the slot, or by
//   close() from any process. try_* never sleep; *_for/_until at most so long.
// Process death: a process killed at any point (SIGKILL included) does not
//   wedge the others. A waiter that finds a slot held by a dead process
//   (checked every 10 ms while it waits on that slot) releases it:
//   - died between claiming a slot and publishing its item (mid-push): that
//     one item is dropped, never half-delivered; push() had not returned;
//   - died while copying an item out (mid-pop): that one item is lost with
//     the process that took it;
//   - died while blocked or between operations: nothing is lost.
//   Sleepers wake every 10 ms to look for such slots (a negligible cost).
//   Every item whose push() returned is delivered to exactly one pop(),
//   unless the popping process dies as described. task_done()/join() count
//   items: an item lost with a dead process (or a consumer that dies before
//   task_done()) leaves join() waiting, so do not join() across deaths.
//   try_pop() may return nullopt while a push is half done (it has not
//   happened yet); it waits at most a short spin for it.
//   A peer is dead when its whole process has exited, reaped or not (a
//   pidfd, else /proc), whatever its name and whichever of its threads
//   exited first (a main thread that called pthread_exit() does not make
//   it dead); a slot whose owner lives is never repaired, and publish()
//   checks that the slot is still the caller's. Owners are pids: every
//   process using one queue must share a pid namespace. A recycled pid of
//   a dead owner delays the repair until that pid exits.
// Exceptions: std::invalid_argument for capacity 0 and for open() of a
//   segment that is not a shared_queue<T>; std::system_error (EINVAL) for
//   open() of a segment whose header is corrupt or does not fit its size
//   (capacity 0 or above 2^28, more slots than the segment holds); never a
//   crash; std::system_error as for shared_memory; weft::queue_closed from producers after close();
//   std::logic_error from task_done() called more often than items popped.
// Ordering: FIFO per producer; the bytes of an item written before push(x)
//   are visible to the process that pops x.
// Cost: O(1): two CASes and a store on the item's slot, one CAS on a shared
//   index; no system call unless someone sleeps. Memory: capacity slots of
//   at least 64 bytes.
// Lifetime: as shared_memory (a named queue's creator unlinks the name).
//
// Design: a Vyukov-style ring where every slot's 64-bit word carries a
// sequence number (low 31 bits; bit 31 is close()'s sticky "poke") and the pid
// of the process that has claimed the slot (high 32 bits). For ticket t in
// round r = t / capacity the sequence moves 4r (empty) -> 4r+1 (writing) ->
// 4r+2 (full) -> 4r+3 (reading) -> 4r+4 (empty, next round). A slot is
// claimed with a CAS on its word (stamping our pid), then the shared index is
// advanced by whoever sees the claim, so no ticket is ever owned by a process
// that has not stamped a slot. A dead stamp is repaired by moving the slot to
// 4r+4, which both producers and consumers of later rounds understand.
template <class T>
class shared_queue {
  static_assert(std::is_trivially_copyable_v<T>,
                "weft::shared_queue<T>: T must be trivially copyable (items are copied as raw "
                "bytes between processes); send other data through weft::serializer");
  static_assert(detail::require_shareable<T>());  // nor an address: a pointer, a view, a struct holding one

 public:
  using value_type = T;
  using size_type = std::size_t;

  // Anonymous shared memory, visible to processes forked afterwards.
  explicit shared_queue(size_type capacity)
      : segment_(shared_memory::anonymous(bytes_for(checked_capacity(capacity)))) {
    initialize(capacity);
  }
  static shared_queue create(std::string_view name, size_type capacity) {
    return shared_queue(shared_memory::create(name, bytes_for(checked_capacity(capacity))), capacity);
  }
  static shared_queue open(std::string_view name) { return shared_queue(shared_memory::open(name)); }

  // Producers. Thread-safe. push blocks while full; try_push never sleeps.
  // Throw weft::queue_closed after close().
  void push(const T& item) { push_with(item, detail::wait_policy::forever()); }
  template <class... Args>
  void emplace(Args&&... args) { push(detail::initialize<T>(std::forward<Args>(args)...)); }
  bool try_push(const T& item) { return push_with(item, detail::wait_policy::never()); }
  template <class Rep, class Period>
  bool try_push_for(const T& item, std::chrono::duration<Rep, Period> timeout) {
    return push_with(item, detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  bool try_push_until(const T& item, std::chrono::time_point<Clock, Duration> deadline) {
    return push_with(item, detail::wait_policy::until(deadline));
  }

  // Consumers. std::nullopt when closed and drained (pop), or also when
  // empty (try_pop) or out of time (pop_for / pop_until).
  std::optional<T> pop() { return pop_with(detail::wait_policy::forever()); }
  std::optional<T> try_pop() { return pop_with(detail::wait_policy::never()); }
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) {
    return pop_with(detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  std::optional<T> pop_until(std::chrono::time_point<Clock, Duration> deadline) {
    return pop_with(detail::wait_policy::until(deadline));
  }

  // Closes the queue for every process: producers throw queue_closed,
  // waiters wake, queued items are still delivered. Idempotent. O(capacity).
  void close() noexcept;
  // acquire: pairs with close()'s store of the flag.
  bool closed() const noexcept { return header().closed.load(std::memory_order_acquire) != 0; }

  // Completion tracking, as multiprocessing.JoinableQueue.
  void task_done();
  void join();

  // Snapshots.
  size_type size() const noexcept;
  size_type capacity() const noexcept { return static_cast<size_type>(header().count); }
  bool empty() const noexcept { return size() == 0; }
  bool full() const noexcept { return size() >= capacity(); }

  const std::string& name() const noexcept { return segment_.name(); }
  void unlink() { segment_.unlink(); }

 private:
  static constexpr std::uint32_t seq_mask = 0x7fffffffu, poke = 0x80000000u;
  static constexpr std::uint32_t writing = 1, full_state = 2, reading = 3, next_round = 4;
  static constexpr auto liveness_interval = std::chrono::milliseconds(10);

  struct alignas(detail::cache_line) slot {
    std::atomic<std::uint64_t> word;  // pid << 32 | poke | seq; protocol above
    // The item's bytes: written by the stamped producer, read by the stamped
    // consumer (raw bytes, so T needs no default constructor).
    alignas(T) std::array<std::byte, sizeof(T)> item;
  };
  struct control_block {
    static constexpr std::uint64_t ready_magic = 0x7765667471756531;  // "weftque1"
    std::atomic<std::uint64_t> magic{0};  // stored last (release) by the creator
    std::uint64_t element_size = 0;
    std::uint64_t count = 0;  // the capacity, in slots
    std::uint64_t element_align = 0;
    // Producer side, consumer side and read-mostly flags each in their own
    // false-sharing range: producers and consumers never write one line.
    alignas(detail::false_sharing_range) std::atomic<std::uint64_t> push_tickets{0};  // next producer ticket
    std::atomic<std::uint64_t> unfinished{0};                                 // pushed and not task_done()
    alignas(detail::false_sharing_range) std::atomic<std::uint64_t> pop_tickets{0};  // next consumer ticket
    std::atomic<std::uint64_t> popped_undone{0};                              // popped and not task_done()
    alignas(detail::false_sharing_range) std::atomic<std::uint32_t> closed{0};
    std::atomic<std::uint32_t> waiters{0};  // processes between announcing a sleep and waking
    alignas(detail::false_sharing_range) detail::parking_word<detail::futex_scope::process_shared> join_epoch;  // bumped when unfinished hits 0
  };
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                    std::atomic<std::uint32_t>::is_always_lock_free,
                "shared_queue lives in shared memory: its atomics must be address-free");
  // The layout every process maps: the header's fields where checked_header
  // reads them, and the two ticket counters a false-sharing range apart.
  static_assert(std::is_standard_layout_v<control_block> && offsetof(control_block, magic) == 0,
                "shared_queue: the control block must start with its magic");
  static_assert(offsetof(control_block, pop_tickets) - offsetof(control_block, push_tickets) >=
                        detail::false_sharing_range &&
                    offsetof(control_block, closed) - offsetof(control_block, pop_tickets) >=
                        detail::false_sharing_range,
                "shared_queue: producers' and consumers' words must not share a cache-line pair");
  static constexpr std::size_t slots_offset =
      (sizeof(control_block) + detail::false_sharing_range - 1) / detail::false_sharing_range * detail::false_sharing_range;

  static std::uint32_t seq(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w) & seq_mask; }
  static std::uint32_t poked(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w) & poke; }
  static pid_t owner(std::uint64_t w) noexcept { return static_cast<pid_t>(w >> 32); }
  static std::uint64_t make(std::uint32_t s, std::uint32_t poke_bit, pid_t pid = 0) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) << 32) | poke_bit | (s & seq_mask);
  }
  // Signed distance of a sequence from `want` in 31-bit modular arithmetic.
  static std::int32_t distance(std::uint32_t s, std::uint32_t want) noexcept {
    return static_cast<std::int32_t>((s - want) << 1) >> 1;
  }

  static constexpr size_type max_capacity = size_type{1} << 28;  // the sequence arithmetic's limit

  static size_type checked_capacity(size_type capacity) {
    if (capacity == 0) throw std::invalid_argument("weft::shared_queue: capacity must be at least 1");
    if (capacity > max_capacity) throw std::invalid_argument("weft::shared_queue: capacity exceeds 2^28");
    return capacity;
  }
  static std::size_t bytes_for(size_type capacity) { return slots_offset + capacity * sizeof(slot); }

  shared_queue(shared_memory segment, size_type capacity) : segment_(std::move(segment)) { initialize(capacity); }
  explicit shared_queue(shared_memory segment);
  void initialize(size_type capacity);

  control_block& header() const noexcept { return *std::launder(static_cast<control_block*>(segment_.data())); }
  slot& slot_of(std::uint64_t ticket) const noexcept {
    auto* first = reinterpret_cast<slot*>(static_cast<std::byte*>(segment_.data()) + slots_offset);
    return first[ticket % header().count];
  }
  std::uint32_t base_of(std::uint64_t ticket) const noexcept {
    return static_cast<std::uint32_t>((ticket / header().count) * next_round) & seq_mask;
  }

  bool push_with(const T& item, const detail::wait_policy& policy);
  std::optional<T> pop_with(const detail::wait_policy& policy);
  bool publish(slot& s, std::uint64_t claimed, std::uint32_t new_seq) noexcept;
  void help_advance(std::atomic<std::uint64_t>& index, std::uint64_t seen) noexcept {
    // relaxed on failure: someone else advanced it; we re-read it anyway.
    index.compare_exchange_strong(seen, seen + 1, std::memory_order_acq_rel, std::memory_order_relaxed);
  }
  bool wait_for_change(slot& s, std::uint64_t seen, const detail::wait_policy& policy);
  bool repair_if_owner_dead(slot& s, std::uint64_t seen) noexcept;
  static bool process_alive(pid_t pid) noexcept;
  static bool process_alive_by_proc(pid_t pid) noexcept;
  void wake(slot& s) noexcept {
    // C2/C3 of the parking protocol: our seq_cst change of the slot word was C1.
    if (header().waiters.load(std::memory_order_seq_cst) != 0)
      detail::futex_wake(detail::low_half(s.word), INT_MAX, detail::futex_scope::process_shared);
  }
  using tracking = detail::task_tracking<detail::futex_scope::process_shared>;

  shared_memory segment_;
};

// ---- implementation ----

template <class T>
shared_queue<T>::shared_queue(shared_memory segment) : segment_(std::move(segment)) {
  const detail::segment_layout want{control_block::ready_magic, slots_offset, sizeof(T), alignof(T), sizeof(slot),
                                    max_capacity};
  detail::checked_header<control_block>({segment_.data(), segment_.size(), segment_.name()}, want, "weft::shared_queue");
}

template <class T>
void shared_queue<T>::initialize(size_type capacity) {
  auto* h = ::new (segment_.data()) control_block();
  h->element_size = sizeof(T);
  h->element_align = alignof(T);
  h->count = capacity;
  for (size_type i = 0; i < capacity; ++i) {
    slot& s = slot_of(i);
    ::new (static_cast<void*>(&s.word)) std::atomic<std::uint64_t>(make(base_of(i), 0));
  }
  h->magic.store(control_block::ready_magic, std::memory_order_release);  // pairs with open()'s acquire
}

// Moves the slot we claimed (its word was `claimed`: our stamp) to
// `new_seq`, keeping a poke close() may have added meanwhile, clears our
// stamp and wakes sleepers. False, changing nothing, if the slot is no
// longer ours: a peer judged this process dead and repaired it (it cannot,
// as death is judged from the whole process; kept as a guard).
template <class T>
bool shared_queue<T>::publish(slot& s, std::uint64_t claimed, std::uint32_t new_seq) noexcept {
  // relaxed: only the CAS's expected value; the CAS below orders.
  std::uint64_t w = s.word.load(std::memory_order_relaxed);
  do {
    if ((w | poke) != (claimed | poke)) return false;  // only close()'s poke may have changed
    // seq_cst: release for the item bytes (pairs with the claimers' acquire),
    // and C1 of the parking protocol with waiters' W1/W2.
  } while (!s.word.compare_exchange_weak(w, make(new_seq, poked(w)), std::memory_order_seq_cst,
                                         std::memory_order_relaxed));
  wake(s);
  return true;
}

template <class T>
bool shared_queue<T>::push_with(const T& item, const detail::wait_policy& policy) {
  auto& h = header();
  const pid_t self = detail::current_pid();
  for (;;) {
    if (closed()) throw queue_closed("weft::shared_queue: push on a closed queue");
    // acquire: the ticket pairs with help_advance()'s CAS (ticket order, no
    // data); the slot word with publish() (B) and repairs, as in pop_with.
    std::uint64_t t = h.push_tickets.load(std::memory_order_acquire);
    slot& s = slot_of(t);
    const std::uint32_t base = base_of(t);
    std::uint64_t w = s.word.load(std::memory_order_acquire);
    if (poked(w)) throw queue_closed("weft::shared_queue: push on a closed queue");
    std::int32_t d = distance(seq(w), base);
    if (d == 0) {
      // (A) claim: stamp the slot for round r with our pid. acquire: the
      // previous round's consumer finished reading before we write.
      const std::uint64_t claimed = make(base + writing, 0, self);
      if (!s.word.compare_exchange_strong(w, claimed, std::memory_order_acq_rel, std::memory_order_relaxed))
        continue;
      help_advance(h.push_tickets, t);
      WEFT_DETAIL_AFTER_CLAIM("push");
      std::memcpy(s.item.data(), &item, sizeof(T));
      // relaxed: a count for join(); ordered before the publish below.
      h.unfinished.fetch_add(1, std::memory_order_relaxed);
      if (publish(s, claimed, base + full_state)) return true;  // (B) the push linearizes here
      h.unfinished.fetch_sub(1, std::memory_order_relaxed);  // the slot was taken from us: push again
      continue;
    }
    if (d > 0) {  // ticket t already claimed by another producer: help, retry
      help_advance(h.push_tickets, t);
      continue;
    }
    // The slot still holds the previous round: full at this slot.
    if (repair_if_owner_dead(s, w)) continue;
    if (!policy.may_sleep()) return false;
    if (!wait_for_change(s, w, policy) && policy.expired()) return false;
  }
}

template <class T>
std::optional<T> shared_queue<T>::pop_with(const detail::wait_policy& policy) {
  auto& h = header();
  const pid_t self = detail::current_pid();
  for (;;) {
    // acquire: as in push_with; the slot word's acquire pairs with the
    // producer's publish (B), so the item's bytes are visible before the claim.
    std::uint64_t t = h.pop_tickets.load(std::memory_order_acquire);
    slot& s = slot_of(t);
    const std::uint32_t base = base_of(t);
    std::uint64_t w = s.word.load(std::memory_order_acquire);
    std::int32_t d = distance(seq(w), base);
    if (d == static_cast<std::int32_t>(full_state)) {
      // (C) claim the item. acquire: pairs with the producer's publish (B).
      const std::uint64_t claimed = make(base + reading, poked(w), self);
      if (!s.word.compare_exchange_strong(w, claimed, std::memory_order_acq_rel, std::memory_order_relaxed))
        continue;
      help_advance(h.pop_tickets, t);
      WEFT_DETAIL_AFTER_CLAIM("pop");
      T out = std::bit_cast<T>(s.item);
      h.popped_undone.fetch_add(1, std::memory_order_relaxed);  // a count for task_done()
      // (D) hands the slot to round r+1's producer. If it was taken from us
      // (see publish), the item was counted lost by whoever repaired it; we
      // still deliver the copy we made.
      publish(s, claimed, base + next_round);
      return out;
    }
    if (d > static_cast<std::int32_t>(full_state)) {  // claimed by another consumer (or repaired): help
      help_advance(h.pop_tickets, t);
      continue;
    }
    if (repair_if_owner_dead(s, w)) continue;
    const bool in_flight = d == static_cast<std::int32_t>(writing);  // an item is being written
    if (!in_flight && closed()) {
      // Drained, provided no producer can still claim this slot: make sure
      // it carries close()'s poke (a producer's claim CAS then fails).
      if (poked(w)) return std::nullopt;
      // seq_cst: as close()'s pokes (C1 for sleepers); relaxed on failure: we
      // only retry with the fresh value.
      s.word.compare_exchange_strong(w, w | poke, std::memory_order_seq_cst, std::memory_order_relaxed);
      continue;
    }
    if (!in_flight && !policy.may_sleep()) return std::nullopt;
    // Out of time: nothing (an item still being written has not been pushed yet).
    if (!wait_for_change(s, w, policy) && policy.expired()) return std::nullopt;
  }
}

// Sleeps until the slot's word changes, close() pokes it, the policy
// expires, or a liveness interval passes. Returns false on expiry of the policy.
template <class T>
bool shared_queue<T>::wait_for_change(slot& s, std::uint64_t seen, const detail::wait_policy& policy) {
  auto changed_now = [&] { return s.word.load(std::memory_order_acquire) != seen; };  // acquire: pairs with publish()
  switch (detail::spin_then_yield(policy, changed_now)) {
    case detail::spin_outcome::stopped: return true;
    case detail::spin_outcome::expired: return false;
    case detail::spin_outcome::sleep: break;
  }
  // Sleep in slices: after each, the caller re-reads the slot and checks the
  // liveness of whoever stamped it. Claims do not wake sleepers (that would
  // cost a system call per operation), so a slot that was unstamped when we
  // looked may have been claimed since by a process that then died.
  detail::wait_policy slice = policy;
  auto check_at = std::chrono::steady_clock::now() + liveness_interval;
  if (!policy.has_deadline() || check_at < policy.deadline()) slice = detail::wait_policy::until(check_at);
  auto& h = header();
  h.waiters.fetch_add(1, std::memory_order_seq_cst);  // W1
  bool changed = s.word.load(std::memory_order_seq_cst) != seen;  // W2
  if (!changed) detail::futex_wait(detail::low_half(s.word), static_cast<std::uint32_t>(seen), slice,
                                   detail::futex_scope::process_shared);  // W3
  h.waiters.fetch_sub(1, std::memory_order_relaxed);  // relaxed: only makes wakers' futex_wake optional
  return !policy.expired() || s.word.load(std::memory_order_acquire) != seen;  // acquire: pairs with publish()
}

// If the slot is stamped by a process that no longer exists, releases it to
// the next round (dropping a half-written item, or the item a dead consumer
// was taking). True when this call repaired it.
template <class T>
bool shared_queue<T>::repair_if_owner_dead(slot& s, std::uint64_t seen) noexcept {
  pid_t pid = owner(seen);
  if (pid == 0 || pid == detail::current_pid() || process_alive(pid)) return false;
  const std::uint32_t state = seq(seen) % next_round;
  const std::uint32_t round_base = seq(seen) - state;
  // seq_cst: a publish (release of the slot to the next round, and C1 for
  // sleepers); relaxed on failure: someone else moved the slot on.
  if (!s.word.compare_exchange_strong(seen, make(round_base + next_round, poked(seen)), std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
    return false;
  wake(s);
  return true;
}

// Whether the process `pid` (not one of its threads) may still run: false
// once the whole process has exited, reaped or not. A zombie thread-group
// leader whose other threads run (its main thread called pthread_exit())
// is alive. Linux: a pidfd is readable exactly when every thread exited;
// without pidfd_open (before 5.3), /proc is read instead. A check that
// cannot be made (out of descriptors: EMFILE) never says dead: kill(pid, 0)
// needs no descriptor and answers ESRCH only for a reaped process; a
// zombie (unreaped) then stays "alive" until its parent reaps it, which
// delays a repair but never corrupts a live writer's slot.
template <class T>
bool shared_queue<T>::process_alive(pid_t pid) noexcept {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
#if defined(__linux__) && defined(SYS_pidfd_open)
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 0);
    ::close(fd);
    if (ready >= 0) return ready == 0;
  } else if (errno == ESRCH) {
    return false;
  }
#endif
  return process_alive_by_proc(pid);
}

// /proc/<pid>/stat's state is its main thread's; the command name before it
// is in parentheses and may hold spaces and ')' (so the state follows the
// LAST ')'). A zombie main thread is a dead process only when no thread in
// /proc/<pid>/task is alive. Elsewhere (no /proc): alive.
template <class T>
bool shared_queue<T>::process_alive_by_proc(pid_t pid) noexcept {
#if defined(__linux__)
  auto state_of = [](const char* path) -> char {
    char line[512];
    std::FILE* f = std::fopen(path, "r");
    // Gone between the calls ('X'), or not readable now (EMFILE, ENFILE,
    // ENOMEM: '?', unknown, which counts as alive).
    if (f == nullptr) return errno == ENOENT || errno == ESRCH ? 'X' : '?';
    std::size_t n = std::fread(line, 1, sizeof line - 1, f);
    std::fclose(f);
    line[n] = '\0';
    const char* close = std::strrchr(line, ')');
    return close != nullptr && close[1] == ' ' && close[2] != '\0' ? close[2] : '?';
  };
  char path[96];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  char state = state_of(path);
  if (state != 'Z' && state != 'X') return true;
  std::snprintf(path, sizeof path, "/proc/%d/task", static_cast<int>(pid));
  DIR* tasks = ::opendir(path);
  if (tasks == nullptr) return errno != ENOENT && errno != ESRCH;  // gone, or unknown (EMFILE): alive
  bool alive = false;
  while (dirent* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    std::snprintf(path, sizeof path, "/proc/%d/task/%.20s/stat", static_cast<int>(pid), e->d_name);
    char s = state_of(path);
    if (s != 'Z' && s != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(tasks);
  return alive;
#else
  (void)pid;
  return true;
#endif
}

template <class T>
void shared_queue<T>::close() noexcept {
  auto& h = header();
  // seq_cst: producers that load a slot after this see closed() or the poke.
  if (h.closed.exchange(1, std::memory_order_seq_cst) != 0) return;
  for (std::uint64_t i = 0; i < h.count; ++i) {
    slot& s = slot_of(i);
    s.word.fetch_or(poke, std::memory_order_seq_cst);  // sticky; changes the futex word
    detail::futex_wake(detail::low_half(s.word), INT_MAX, detail::futex_scope::process_shared);
  }
  h.join_epoch.bump_and_wake();
}

template <class T>
void shared_queue<T>::task_done() {
  auto& h = header();
  tracking::task_done(h.popped_undone, h.unfinished, h.join_epoch,
                      "weft::shared_queue::task_done: called more times than items were popped");
}

template <class T>
void shared_queue<T>::join() {
  auto& h = header();
  tracking::join(h.unfinished, h.join_epoch);
}

template <class T>
typename shared_queue<T>::size_type shared_queue<T>::size() const noexcept {
  auto& h = header();
  // A snapshot (acquire: pairs with the tickets' CASes); may be stale.
  std::uint64_t popped = h.pop_tickets.load(std::memory_order_acquire);
  std::uint64_t pushed = h.push_tickets.load(std::memory_order_acquire);
  if (pushed <= popped) return 0;
  return static_cast<size_type>(std::min<std::uint64_t>(pushed - popped, h.count));
}

}  // namespace weft
