// weft — MIT licence. See LICENSE.
//
// <weft/shared_memory.hpp> — memory shared between processes: the C++
// counterparts of multiprocessing.Array / Value (shared_array, shared_value),
// of multiprocessing.shared_memory.SharedMemory (shared_memory), and of
// multiprocessing.Lock (interprocess_mutex, robust against a dying owner).
// POSIX only.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#if !defined(__unix__) && !defined(__APPLE__)
#error "<weft/shared_memory.hpp> needs POSIX shared memory (Linux, macOS); it is not available on this platform"
#endif

#include <weft/atomic_ref.hpp>
#include <weft/detail/boundary_check.hpp>
#include <weft/detail/segment_header.hpp>
#include <weft/detail/shm.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <pthread.h>

namespace weft {

class interprocess_guard;

// A mutex that lives in shared memory and is shared by every process that
// maps it (like multiprocessing.Lock). Robust: if its owner dies holding it,
// the next locker gets it (never a deadlock) and is told through
// interprocess_guard::owner_died(); the data it protects may then be half
// updated, and it is the new owner's job to repair or discard it.
//
// Thread-safety: lock/try_lock/unlock from any thread of any process that
//   maps the mutex. Construct it once (the creator of the memory does) and
//   never copy or move it; it is not destroyed explicitly (other processes
//   may still use it when one unmaps it).
// Blocking: lock() sleeps in the kernel (futex) while another process holds it.
// Exceptions: std::system_error for OS failures (e.g. EDEADLK).
// Cost: uncontended lock/unlock are one atomic operation each.
// Platform: robustness needs PTHREAD_MUTEX_ROBUST (Linux, FreeBSD); on macOS
//   the mutex is process-shared but a dead owner's lock is not recovered.
class interprocess_mutex {
 public:
  interprocess_mutex() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
#if defined(PTHREAD_MUTEX_ROBUST) || defined(__linux__)
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
#endif
    int rc = pthread_mutex_init(&mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) detail::throw_errno(rc, "weft::interprocess_mutex: init failed");
  }
  interprocess_mutex(const interprocess_mutex&) = delete;
  interprocess_mutex& operator=(const interprocess_mutex&) = delete;

  // Blocks until acquired; recovers the lock of a dead owner.
  void lock() { previous_owner_died_ = acquire(pthread_mutex_lock(&mutex_), "lock"); }
  // Never blocks; false when another owner holds it.
  bool try_lock() {
    int rc = pthread_mutex_trylock(&mutex_);
    if (rc == EBUSY) return false;
    previous_owner_died_ = acquire(rc, "try_lock");
    return true;
  }
  void unlock() noexcept { pthread_mutex_unlock(&mutex_); }
  // Locks and returns a guard that reports whether the previous owner died.
  interprocess_guard guard();

 private:
  friend class interprocess_guard;
  // True when the lock was taken over from a dead owner.
  bool acquire(int rc, const char* op) {
    if (rc == 0) return false;
#if defined(PTHREAD_MUTEX_ROBUST) || defined(__linux__)
    if (rc == EOWNERDEAD) {
      pthread_mutex_consistent(&mutex_);  // we own it now; the data is the caller's to check
      return true;
    }
#endif
    detail::throw_errno(rc, std::string("weft::interprocess_mutex::") + op);
  }

  pthread_mutex_t mutex_;             // process-shared, robust
  bool previous_owner_died_ = false;  // guarded by mutex_: set by the current holder
};

// Holds an interprocess_mutex (movable RAII, like std::unique_lock).
class interprocess_guard {
 public:
  interprocess_guard() noexcept = default;
  explicit interprocess_guard(interprocess_mutex& m) : mutex_(&m) {
    m.lock();
    owner_died_ = m.previous_owner_died_;
  }
  interprocess_guard(interprocess_guard&& o) noexcept
      : mutex_(std::exchange(o.mutex_, nullptr)), owner_died_(o.owner_died_) {}
  interprocess_guard& operator=(interprocess_guard&& o) noexcept {
    if (this != &o) {
      unlock();
      mutex_ = std::exchange(o.mutex_, nullptr);
      owner_died_ = o.owner_died_;
    }
    return *this;
  }
  ~interprocess_guard() { unlock(); }

  // True when the previous owner died holding the lock (its update of the
  // protected data may be incomplete).
  bool owner_died() const noexcept { return owner_died_; }
  bool owns_lock() const noexcept { return mutex_ != nullptr; }
  void unlock() noexcept {
    if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->unlock();
  }

 private:
  interprocess_mutex* mutex_ = nullptr;
  bool owner_died_ = false;
};

inline interprocess_guard interprocess_mutex::guard() { return interprocess_guard(*this); }

// A named POSIX shared-memory segment (like Python's
// multiprocessing.shared_memory.SharedMemory): create it in one process,
// open it by name in others; bytes are zero-filled on creation.
//
// Name rule: "name" or "/name", no other '/', at most 255 characters.
// Lifetime rule (nothing leaks): the handle returned by create() owns the
//   name and unlinks it when destroyed, but only in the creating process
//   (copies inherited by forked children never unlink); call unlink() to
//   remove the name earlier, or persist() to leave it for another program.
//   Handles from open() never unlink. Mappings stay valid after unlink
//   until every handle is destroyed.
// Thread-safety: a handle is not synchronized; the bytes are raw memory
//   (use atomics or interprocess_mutex). Move-only.
// Exceptions: std::system_error naming the segment for bad names (EINVAL,
//   ENAMETOOLONG), an existing name on create (EEXIST), a missing one on
//   open (ENOENT), a size beyond the free space of the shm filesystem on
//   create (ENOSPC: the memory is reserved at creation, so a later touch
//   never raises SIGBUS) and other OS failures; std::invalid_argument for
//   size 0. A create() that throws leaves no name and no descriptor behind.
// Cost: create() reserves (and zero-fills) its bytes: O(bytes).
class shared_memory {
 public:
  static shared_memory create(std::string_view name, std::size_t bytes);
  static shared_memory open(std::string_view name);
  // Removes the name now (the memory stays mapped). Idempotent.
  void unlink();
  // Leaves the name in place when this handle is destroyed.
  void persist() noexcept { owns_name_ = false; }

  void* data() const noexcept { return map_.data(); }
  std::size_t size() const noexcept { return map_.size(); }
  std::span<std::byte> bytes() const noexcept { return {static_cast<std::byte*>(data()), size()}; }
  const std::string& name() const noexcept { return name_; }

  shared_memory(shared_memory&& o) noexcept
      : map_(std::move(o.map_)), name_(std::move(o.name_)),
        owns_name_(std::exchange(o.owns_name_, false)), creator_(o.creator_) {}
  shared_memory& operator=(shared_memory&& o) noexcept {
    if (this != &o) {
      release_name();
      map_ = std::move(o.map_);
      name_ = std::move(o.name_);
      owns_name_ = std::exchange(o.owns_name_, false);
      creator_ = o.creator_;
    }
    return *this;
  }
  ~shared_memory() { release_name(); }

  // ---- for weft's own containers: anonymous memory, no name ----
  static shared_memory anonymous(std::size_t bytes) {
    return shared_memory(detail::mapping::anonymous(bytes), {}, false);
  }

 private:
  shared_memory(detail::mapping m, std::string name, bool owns) noexcept
      : map_(std::move(m)), name_(std::move(name)), owns_name_(owns), creator_(::getpid()) {}
  void release_name() noexcept {
    if (owns_name_ && ::getpid() == creator_) ::shm_unlink(name_.c_str());
    owns_name_ = false;
  }

  detail::mapping map_;
  std::string name_;        // "/name"; empty for anonymous memory
  bool owns_name_ = false;  // create()d here and not yet unlinked or persisted
  pid_t creator_ = 0;       // the process whose destructor may unlink
};

inline shared_memory shared_memory::create(std::string_view name, std::size_t bytes) {
  std::string n = detail::shm_name(name);
  if (bytes == 0)
    throw std::invalid_argument("weft::shared_memory::create: segment '" + n + "' needs a size above 0");
  int fd = ::shm_open(n.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) detail::throw_errno(errno, "weft::shared_memory::create: segment '" + n + "'");
  detail::fd_closer closer(fd);
  try {
    detail::size_segment(fd, bytes, "weft::shared_memory::create: segment '" + n + "'");
    return shared_memory(detail::mapping::of_fd(fd, bytes, "segment '" + n + "'"), n, true);
  } catch (...) {
    ::shm_unlink(n.c_str());  // nothing half-made stays behind
    throw;
  }
}

inline shared_memory shared_memory::open(std::string_view name) {
  std::string n = detail::shm_name(name);
  int fd = ::shm_open(n.c_str(), O_RDWR, 0);
  if (fd < 0) detail::throw_errno(errno, "weft::shared_memory::open: segment '" + n + "'");
  detail::fd_closer closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) detail::throw_errno(errno, "weft::shared_memory::open: segment '" + n + "'");
  if (st.st_size == 0) detail::throw_errno(EINVAL, "weft::shared_memory::open: segment '" + n + "' is empty");
  return shared_memory(detail::mapping::of_fd(fd, static_cast<std::size_t>(st.st_size), "segment '" + n + "'"),
                       n, false);
}

inline void shared_memory::unlink() {
  if (name_.empty()) return;
  if (::shm_unlink(name_.c_str()) != 0 && errno != ENOENT)
    detail::throw_errno(errno, "weft::shared_memory::unlink: segment '" + name_ + "'");
  owns_name_ = false;
}

// A fixed-size array of T in shared memory (like multiprocessing.Array). T
// must be trivially copyable and hold no address (a pointer, std::string_view,
// std::span, a struct with one): either is a compile-time error.
//
// Visibility: memory from the constructor is anonymous and visible to every
//   process forked afterwards (all process_pool workers included);
//   create(name, n)/open(name) share it by name with any process.
// Thread-safety: the elements are plain memory: use atomic(i) (an
//   weft::atomic_ref, i.e. std::atomic_ref) or lock() for concurrent updates. Move-only handle.
// Exceptions: std::invalid_argument for n == 0 and for open() of a segment
//   that does not hold T elements; std::system_error (EINVAL) for open() of
//   a segment whose header is corrupt or does not fit its size (it is never
//   mapped out of bounds); std::system_error as for shared_memory.
// Cost: one mapping; lock() is an interprocess_mutex shared by all copies.
// Lifetime: unmapped when the handle is destroyed; a named array follows
//   shared_memory's lifetime rule.
template <class T>
class shared_array {
  static_assert(std::is_trivially_copyable_v<T>,
                "weft::shared_array<T>: T must be trivially copyable (it is shared as raw bytes "
                "between processes; pointers inside it would not be valid in another process)");
  static_assert(detail::require_shareable<T>());  // nor an address: a pointer, a view, a struct holding one

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  explicit shared_array(std::size_t n, const T& init = T{})
      : segment_(shared_memory::anonymous(bytes_for(checked_count(n)))) {
    initialize(n, init);
  }
  static shared_array create(std::string_view name, std::size_t n, const T& init = T{}) {
    return shared_array(shared_memory::create(name, bytes_for(checked_count(n))), n, init);
  }
  static shared_array open(std::string_view name) { return shared_array(shared_memory::open(name)); }

  T* data() const noexcept { return reinterpret_cast<T*>(static_cast<std::byte*>(segment_.data()) + data_offset); }
  std::size_t size() const noexcept { return static_cast<std::size_t>(header().count); }
  T& operator[](std::size_t i) const noexcept { return data()[i]; }
  iterator begin() const noexcept { return data(); }
  iterator end() const noexcept { return data() + size(); }
  // Also converts implicitly: std::span<T> s = arr; (a contiguous range).
  std::span<T> span() const noexcept { return {data(), size()}; }

  // Atomic access to element i, e.g. arr.atomic(i).fetch_add(1). Only
  // for a T whose atomics are lock-free (address-free across processes);
  // any other T is a compile-time error: use lock() and operator[].
  atomic_ref<T> atomic(std::size_t i) const {
    // One readable error per case (the instantiation names T).
    if constexpr (sizeof(T) > 8) {
      static_assert(sizeof(T) <= 8,
                    "weft::shared_array<T>::atomic / weft::shared_value<T>::load/store: T is wider than 8 bytes, "
                    "so its atomics are not lock-free (not even with -mcx16): they would take a lock private to "
                    "each process and tear across processes. Use lock() and load/store the whole value with "
                    "operator[] / get() under it, or an 8-byte T");
    } else if constexpr (atomic_ref<T>::required_alignment > alignof(T)) {
      static_assert(atomic_ref<T>::required_alignment <= alignof(T),
                    "weft::shared_array<T>::atomic / weft::shared_value<T>::load/store: T is aligned below what "
                    "std::atomic_ref<T> needs (e.g. struct { int a, b; } is 8 bytes aligned to 4). Declare T "
                    "alignas(8) (alignas(sizeof(T))), or use lock() and load/store the whole value with "
                    "operator[] / get() under it");
    } else {
      static_assert(atomic_ref<T>::is_always_lock_free,
                    "weft::shared_array<T>::atomic / weft::shared_value<T>::load/store: T is not lock-free here; "
                    "its atomics would take a lock private to each process and tear across processes. Use "
                    "lock() and load/store the whole value with operator[] / get() under it");
    }
    return atomic_ref<T>(data()[i]);
  }
  // Locks the array's interprocess mutex (like Array(..., lock=True)).
  interprocess_guard lock() const { return header().mutex.guard(); }

  const std::string& name() const noexcept { return segment_.name(); }
  void unlink() { segment_.unlink(); }

 private:
  // The layout of shared_array memory: this header, then the elements at
  // offset data_offset (a multiple of 64 and of alignof(T)).
  struct header_block {
    static constexpr std::uint64_t ready_magic = 0x7765667461727231;  // "weftarr1"
    std::atomic<std::uint64_t> magic{0};  // stored (release) last by the creator
    std::uint64_t element_size = 0;
    std::uint64_t count = 0;
    std::uint64_t element_align = 0;
    interprocess_mutex mutex;
  };

  static constexpr std::size_t data_offset =
      ((sizeof(header_block) + 63) / 64 * 64 + alignof(T) - 1) / alignof(T) * alignof(T);

  static constexpr std::size_t max_count = (SIZE_MAX - data_offset) / sizeof(T);

  static std::size_t checked_count(std::size_t n) {
    if (n == 0) throw std::invalid_argument("weft::shared_array: size must be at least 1");
    if (n > max_count) throw std::invalid_argument("weft::shared_array: size too large");
    return n;
  }
  static std::size_t bytes_for(std::size_t n) { return data_offset + n * sizeof(T); }

  shared_array(shared_memory segment, std::size_t n, const T& init) : segment_(std::move(segment)) {
    initialize(n, init);
  }
  explicit shared_array(shared_memory segment) : segment_(std::move(segment)) {
    const detail::segment_layout want{header_block::ready_magic, data_offset, sizeof(T), alignof(T),
                                      sizeof(T), max_count};
    detail::checked_header<header_block>({segment_.data(), segment_.size(), segment_.name()}, want,
                                        "weft::shared_array");
  }
  void initialize(std::size_t n, const T& init) {
    auto* h = ::new (segment_.data()) header_block();
    h->element_size = sizeof(T);
    h->element_align = alignof(T);
    h->count = n;
    T* first = data();
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(first + i)) T(init);
    // release: openers that see the magic see the header and the elements.
    h->magic.store(header_block::ready_magic, std::memory_order_release);
  }
  header_block& header() const noexcept {
    return *std::launder(static_cast<header_block*>(segment_.data()));
  }

  shared_memory segment_;
};

// One T in shared memory (like multiprocessing.Value), visible to every
// process forked after its creation.
//
// Thread-safety: load(), store() and, for arithmetic T, fetch_add() and
//   fetch_sub() are atomic (std::atomic_ref) across processes, and lock-free:
//   for a T whose atomics would need a lock (e.g. a 24-byte struct) they do
//   not compile (static_assert); use lock() and get(). lock() guards
//   compound updates. get() is the raw value for use under lock().
// Exceptions: std::system_error if the memory cannot be mapped.
template <class T>
class shared_value {
  static_assert(std::is_trivially_copyable_v<T>,
                "weft::shared_value<T>: T must be trivially copyable (it is shared as raw bytes between processes)");
  static_assert(detail::require_shareable<T>());  // nor an address: a pointer, a view, a struct holding one

 public:
  explicit shared_value(const T& init = T{}) : cell_(1, init) {}

  T load() const {
    return cell_.atomic(0).load();
  }
  void store(const T& v) {
    cell_.atomic(0).store(v);
  }
  // Adds `d`; returns the previous value. Integral and floating-point T.
  T fetch_add(T d)
    requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
  {
    return cell_.atomic(0).fetch_add(d);
  }
  T fetch_sub(T d)
    requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
  {
    return cell_.atomic(0).fetch_sub(d);
  }
  T& get() const noexcept { return cell_[0]; }
  interprocess_guard lock() const { return cell_.lock(); }

 private:
  shared_array<T> cell_;
};

}  // namespace weft
