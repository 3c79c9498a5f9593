// weft — MIT licence. See LICENSE.
//
// <weft/detail/shm_ring.hpp> — internal: process_pool's shared-memory
// channel between the dispatcher and one worker. Not API.
//
// Why: a small task's round trip over the worker's socket cost about ten
// system calls (the dispatcher's sendmsg, poll and recv; the worker's poll,
// two recvs and sendmsg; the sched_yield()s of both spinning loops, each
// around a poll()). Through shared memory a record costs a copy and two
// atomic stores, and a peer that spins sees it without a system call.
//
// What: a channel is two single-producer single-consumer byte rings, one
// per direction (to_worker: the dispatcher produces, the worker consumes;
// to_pool: the reverse). A record is a 64-bit word (the frame's length, or
// on_socket: "this frame travels on the socket", with no bytes here)
// followed by the frame's bytes, padded to 8. The socket stays: it carries
// frames over inline_max, the wake-ups of a peer that sleeps, the worker's
// first message, the stop request and, above all, end of stream; worker
// liveness still comes from the fork server's death reports.
//
// Protocol of one ring (a Lamport SPSC ring over unbounded 64-bit counters,
// head <= tail <= head + capacity; byte i lives at data[i % capacity]):
//   producer: (P1) acquire-load head (pairs with C3): the bytes it frees
//             were read; (P2) write the record's bytes at [tail, tail + n);
//             (P3) seq_cst store tail + n — the record is published, whole,
//             at this point (it linearizes here); (P4) seq_cst load of the
//             consumer's `sleeping` word: if set, wake it through the socket.
//   consumer: (C1) acquire-load tail (pairs with P3): the bytes before it
//             are whole; (C2) copy the record out; (C3) CAS head to
//             head + n, release (pairs with P1): the record is taken here.
//   revoke:   (R) the producer CASes head to tail: the records not taken
//             are taken back and will never be taken (a worker whose
//             socket closed must not start a task the pool gives to
//             another worker). C3 and R race on head; exactly one wins
//             each record, so a task runs at most once.
//   sleeping: (S0) the worker reads `wakes` (its ticket); (S1) seq_cst
//             store sleeping = 1; (S2) seq_cst load tail: a record
//             published meanwhile cancels the sleep; (S3) block: the worker
//             in futex_wait on `wakes` while it still equals the ticket (a
//             process-shared futex, with a timeout after which it looks at
//             its socket for a stop request or end of stream), the
//             dispatcher in poll() on all its sockets; (S4) sleeping = 0.
//   wake-up:  (P4) after P3, seq_cst load of sleeping: if set, the
//             dispatcher bumps `wakes` and futex-wakes the worker; the
//             worker writes an empty frame to its socket (the dispatcher
//             skips it). No wake-up byte ever sits in the worker's socket,
//             which carries only big task frames and the stop request.
// No lost wake-up: P3/P4 and S1/S2 are all seq_cst, so either S2 sees P3's
// record, or P4 sees S1 and wakes; a bump of `wakes` after S0 makes S3's
// futex_wait return at once (the kernel compares the word with the ticket).
// A producer that dies between P2 and P3 leaves no record: the consumer
// never sees a half-written one. A peer that dies never makes the other
// wait on the ring: nobody blocks on a ring, only in poll() on the socket,
// whose end of stream (and the fork server's death report) ends the wait,
// or in a futex_wait bounded by a timeout.
// A consumer trusts nothing it reads: a tail more than `capacity` ahead
// of head, or a record longer than what was published, reads as corrupt.
//
// The words are lock-free atomics in MAP_SHARED memory (static_asserts
// below), so both processes see one object; `wakes` is a process-shared
// futex word (on other systems futex_wait polls: see wait.hpp).
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error "weft's process components need POSIX"
#endif

#include <weft/detail/config.hpp>  // false_sharing_range
#include <weft/detail/shm.hpp>
#include <weft/detail/wait.hpp>  // futex_wait, futex_wake

#include <atomic>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include <sys/mman.h>

namespace weft::detail {

inline constexpr std::size_t ring_line = false_sharing_range;  // head, tail and sleeping each own one

class shm_ring {
 public:
  static constexpr std::size_t capacity = std::size_t{64} << 10;
  // Frames up to this size travel through the ring; bigger ones on the
  // socket. The pool keeps at most pipeline_depth (2) tasks of any size
  // and a few more small ones (quick_depth, quick_payload: see
  // remote_pool_core) unread in a worker's ring, which fit with room to
  // spare (process_pool.hpp checks), so the pool never finds the ring full
  // in a correct run. A worker's replies that find no room take the socket.
  static constexpr std::size_t inline_max = std::size_t{16} << 10;
  static constexpr std::uint64_t on_socket = std::uint64_t{1} << 63;
  enum class status { empty, record, corrupt, revoked };

  // Zeroes the counters; only while neither side uses the ring (a new
  // worker's slot, before its fork).
  void reset() noexcept {
    head_.store(0, std::memory_order_relaxed);  // relaxed: published by the fork that follows (a syscall)
    tail_.store(0, std::memory_order_relaxed);
    sleeping_.store(0, std::memory_order_relaxed);
    wakes_.store(0, std::memory_order_relaxed);
  }

  // ---- producer ----
  // Publishes one record: `frame`'s bytes, or (on_socket) none, saying the
  // frame follows on the socket. False, with nothing written, when the
  // ring has no room.
  bool try_push(std::span<const std::byte> frame, bool frame_on_socket) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // relaxed: the producer's own word
    const std::uint64_t head = head_.load(std::memory_order_acquire);  // P1: pairs with C3
    const std::size_t bytes = frame_on_socket ? 0 : frame.size();
    const std::uint64_t need = sizeof(std::uint64_t) + padded(bytes);
    if (tail - head > capacity || capacity - (tail - head) < need) return false;
    std::uint64_t word = frame_on_socket ? on_socket : bytes;
    copy_in(tail, &word, sizeof word);  // P2
    if (bytes != 0) copy_in(tail + sizeof word, frame.data(), bytes);
    tail_.store(tail + need, std::memory_order_seq_cst);  // P3: seq_cst, see "No lost wake-up"
    return true;
  }
  // Takes back every record the consumer has not taken (C3 not done), so
  // that it never will: a CAS of head to tail, racing the consumer's C3
  // (exactly one wins each record). Returns how many records it took back,
  // counted by walking their length words; nullopt if they do not parse (a
  // peer scribbled on the ring: then nothing is known of them).
  // The producer only, once it sends nothing more.
  std::optional<std::size_t> revoke() noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // relaxed: the producer's own word
    std::uint64_t head = head_.load(std::memory_order_acquire);
    // acq_rel: pairs with the consumer's C3 CAS; a failure reloads head.
    while (head != tail && !head_.compare_exchange_weak(head, tail, std::memory_order_acq_rel, std::memory_order_acquire)) {
    }
    if (tail - head > capacity) return std::nullopt;
    std::size_t records = 0;
    for (std::uint64_t at = head; at != tail; ++records) {
      if (tail - at < sizeof(std::uint64_t)) return std::nullopt;
      std::uint64_t word;
      copy_out(at, &word, sizeof word);
      const std::uint64_t bytes = word == on_socket ? 0 : word;
      if (bytes > inline_max || sizeof word + padded(static_cast<std::size_t>(bytes)) > tail - at) return std::nullopt;
      at += sizeof word + padded(static_cast<std::size_t>(bytes));
    }
    return records;
  }
  // P4: the consumer announced it sleeps (S1): the producer wakes it.
  bool consumer_sleeping() const noexcept { return sleeping_.load(std::memory_order_seq_cst) != 0; }
  // P4 for a consumer that sleeps on the futex (the worker): bumps `wakes`
  // and wakes it, if it announced its sleep. One system call then, none
  // otherwise.
  void wake_consumer() noexcept {
    if (!consumer_sleeping()) return;
    wakes_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(wakes_, 1, futex_scope::process_shared);
  }

  // ---- consumer ----
  // Takes the next record: its bytes into `frame` (resized; capacity kept),
  // `frame_on_socket` set for a marker. corrupt: counters or length out of
  // bounds (a peer that scribbled here); nothing was taken. revoked: the
  // producer took the record back (revoke()) while it was being read: it
  // must not run.
  status try_pop(std::vector<std::byte>& frame, bool& frame_on_socket) {
    std::uint64_t head = head_.load(std::memory_order_acquire);  // acquire: pairs with revoke()'s CAS
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);  // C1: pairs with P3
    if (tail == head) return status::empty;
    const std::uint64_t published = tail - head;
    if (published > capacity || published < sizeof(std::uint64_t)) return status::corrupt;
    std::uint64_t word;
    copy_out(head, &word, sizeof word);
    frame_on_socket = word == on_socket;
    const std::uint64_t bytes = frame_on_socket ? 0 : word;
    if (bytes > inline_max || sizeof word + padded(static_cast<std::size_t>(bytes)) > published) return status::corrupt;
    frame.resize(static_cast<std::size_t>(bytes));
    if (bytes != 0) copy_out(head + sizeof word, frame.data(), frame.size());  // C2
    // C3, a CAS: the record is taken here (or the producer revoked it
    // first). release: pairs with P1's acquire (the bytes were read before
    // they can be overwritten). A failure leaves head to the producer.
    if (!head_.compare_exchange_strong(head, head + sizeof word + padded(static_cast<std::size_t>(bytes)),
                                       std::memory_order_acq_rel, std::memory_order_acquire))
      return status::revoked;
    return status::record;
  }
  // Whether a record waits (a snapshot; seq_cst as S2).
  bool has_record() const noexcept {
    return tail_.load(std::memory_order_seq_cst) != head_.load(std::memory_order_acquire);  // acquire: revoke() writes it too
  }
  // S1 then S2: false (and sleeping cleared) when a record came meanwhile.
  bool may_sleep() noexcept {
    sleeping_.store(1, std::memory_order_seq_cst);  // S1
    if (!has_record()) return true;                 // S2
    awake();
    return false;
  }
  // S4. relaxed: a producer that still reads 1 only sends a wake-up too many.
  void awake() noexcept { sleeping_.store(0, std::memory_order_relaxed); }
  // S0-S4 on the futex, for at most `timeout`: returns when a record may
  // have come (or the timeout passed); the caller looks again.
  void sleep_for(std::chrono::milliseconds timeout) noexcept {
    const std::uint32_t ticket = wakes_.load(std::memory_order_seq_cst);  // S0
    if (!may_sleep()) return;                                              // S1, S2
    futex_wait(wakes_, ticket, wait_policy::for_(timeout), futex_scope::process_shared);  // S3
    awake();                                                               // S4
  }

 private:
  static constexpr std::size_t padded(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }
  void copy_in(std::uint64_t at, const void* from, std::size_t n) noexcept {
    const std::size_t offset = static_cast<std::size_t>(at % capacity);
    const std::size_t first = n < capacity - offset ? n : capacity - offset;
    std::memcpy(data_ + offset, from, first);
    std::memcpy(data_, static_cast<const std::byte*>(from) + first, n - first);
  }
  void copy_out(std::uint64_t at, void* to, std::size_t n) const noexcept {
    const std::size_t offset = static_cast<std::size_t>(at % capacity);
    const std::size_t first = n < capacity - offset ? n : capacity - offset;
    std::memcpy(to, data_ + offset, first);
    std::memcpy(static_cast<std::byte*>(to) + first, data_, n - first);
  }

  alignas(ring_line) std::atomic<std::uint64_t> head_{0};      // consumer writes: bytes consumed
  alignas(ring_line) std::atomic<std::uint64_t> tail_{0};      // producer writes: bytes published
  alignas(ring_line) std::atomic<std::uint32_t> sleeping_{0};  // consumer writes: 1 between S1 and S4
  std::atomic<std::uint32_t> wakes_{0};                          // producer bumps (P4); the futex word of S3
  alignas(ring_line) std::byte data_[capacity];

  static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
                "weft: shm_ring's words are shared between processes and must be lock-free");
  static_assert(capacity % 8 == 0 && 2 * (inline_max + 16) < capacity,
                "weft: shm_ring must hold a full pipeline of inline frames");

 public:
  // Where the tail word and the first data byte sit (layout checks, and
  // the [detail] tests that scribble on a ring).
  static constexpr std::size_t tail_offset() noexcept;
  static constexpr std::size_t data_offset() noexcept;
};

constexpr std::size_t shm_ring::tail_offset() noexcept { return offsetof(shm_ring, tail_); }
constexpr std::size_t shm_ring::data_offset() noexcept { return offsetof(shm_ring, data_); }
static_assert(shm_ring::tail_offset() >= ring_line,
              "weft: shm_ring's head and tail must sit a false-sharing range apart");
static_assert(shm_ring::data_offset() - shm_ring::tail_offset() >= 2 * ring_line,
              "weft: shm_ring's sleeping word and data must not share the tail's range");

// One worker's pair of rings.
struct worker_channel {
  shm_ring to_worker;  // tasks: the dispatcher produces
  shm_ring to_pool;    // replies: the worker produces
  void reset() noexcept {
    to_worker.reset();
    to_pool.reset();
  }
};

// The channels of one pool: `slots` worker_channels in one anonymous
// MAP_SHARED mapping made before the fork server, so every worker it forks
// shares it with the pool. After the fork server started, the pool's
// mapping is marked MADV_DONTFORK (Linux): a fork()ed copy of the program
// and a later pool's fork server do not inherit it; a worker marks its own
// view the same way, so a task's fork() does not carry it either.
// Owned by one pool; not thread-safe.
class channel_region {
 public:
  channel_region() = default;
  channel_region(const channel_region&) = delete;
  channel_region& operator=(const channel_region&) = delete;
  ~channel_region() {
    if (base_ != nullptr) ::munmap(base_, bytes());
  }
  // The most slots whose size in bytes fits in a size_t.
  static constexpr std::size_t max_slots() noexcept { return SIZE_MAX / sizeof(worker_channel); }
  // Held by a pool from mapping its region until keep_from_forks() (see
  // process_pool's constructor), so that no other pool's fork server is
  // forked in between. Not a std::mutex: it is held across fork(), and the
  // fork server, its workers (a task may build a pool) and a user's fork()
  // all copy it locked by a thread they do not have. So the word holds the
  // holder's pid, and a process that reads another pid there is such a copy
  // and takes it over. Pools are built rarely: a waiter naps.
  class fork_guard {
   public:
    fork_guard() : me_(::getpid()) {
      for (;;) {
        pid_t seen = 0;
        // acquire: the previous holder's mapping and madvise come first.
        if (holder().compare_exchange_strong(seen, me_, std::memory_order_acquire)) return;
        if (seen != me_ && holder().compare_exchange_strong(seen, me_, std::memory_order_acquire)) return;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    ~fork_guard() { holder().store(0, std::memory_order_release); }
    fork_guard(const fork_guard&) = delete;
    fork_guard& operator=(const fork_guard&) = delete;

   private:
    static std::atomic<pid_t>& holder() {
      static std::atomic<pid_t> word{0};  // 0: free
      return word;
    }
    pid_t me_;
  };

  // Maps `slots` channels. Throws std::invalid_argument for no slots or
  // more than max_slots(), std::system_error when the mapping fails.
  void create(std::size_t slots) {
    if (slots == 0 || slots > max_slots()) throw std::invalid_argument("weft::process_pool: no room for the worker channels");
    const std::size_t n = slots * sizeof(worker_channel);
    // Accounted (no MAP_NORESERVE): a machine short of memory refuses the
    // mapping here, as ENOMEM, rather than a ring's first touch later.
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_errno(errno, "weft::process_pool: mmap of the worker channels");
    base_ = static_cast<worker_channel*>(p);
    slots_ = slots;
    for (std::size_t i = 0; i < slots; ++i) new (base_ + i) worker_channel;  // zeroed already; starts the atomics' lifetime
  }
  // Linux: later forks of this process do not inherit the mapping.
  static void keep_from_forks(void* base, std::size_t bytes) noexcept {
#if defined(MADV_DONTFORK)
    ::madvise(base, bytes, MADV_DONTFORK);
#else
    (void)base;
    (void)bytes;
#endif
  }
  void keep_from_forks() noexcept { keep_from_forks(base_, bytes()); }
  // A fork()ed copy: drops the view without unmapping (with MADV_DONTFORK the
  // range is not mapped here, and the address may hold something else).
  void abandon_in_copy() noexcept {
    base_ = nullptr;
    slots_ = 0;
  }
  worker_channel* base() const noexcept { return base_; }
  std::size_t slots() const noexcept { return slots_; }
  worker_channel& operator[](std::size_t i) const noexcept { return base_[i]; }
  std::size_t bytes() const noexcept { return slots_ * sizeof(worker_channel); }

 private:
  worker_channel* base_ = nullptr;
  std::size_t slots_ = 0;
};

}  // namespace weft::detail
