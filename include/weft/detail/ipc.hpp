// weft — MIT licence. See LICENSE.
//
// <weft/detail/ipc.hpp> — internal: framed messages over stream sockets and
// file-descriptor passing, for process_pool. Not API.
//
// A frame is a 64-bit length followed by that many bytes. Writes use
// MSG_NOSIGNAL, so a peer that died gives EPIPE instead of killing us with
// SIGPIPE. A short read (the peer died mid-frame) reads as end of stream.
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error "weft's process components need POSIX"
#endif

#include <weft/detail/shm.hpp>
#include <weft/detail/wait.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

// The process side's platform path. On Linux, descriptors are born
// close-on-exec (SOCK_CLOEXEC, MSG_CMSG_CLOEXEC, pipe2) and a worker dies
// with its fork server through PR_SET_PDEATHSIG. Elsewhere, and on Linux
// built with WEFT_PORTABLE_PROCESS (scripts/test --portable tests that path),
// only POSIX calls are used: fcntl(FD_CLOEXEC) right after creation, under
// the pools' fork lock (pool_descriptors::mutex(), held while a fork server
// forks, so no fork of weft's sees a descriptor between creation and flag;
// a fork + exec by another thread of the program can, in that window);
// SO_NOSIGPIPE where it exists, else MSG_NOSIGNAL; and a worker sees the
// pool go away as end of stream on its socket (after its current task).
#if defined(__linux__) && !defined(WEFT_PORTABLE_PROCESS)
#define WEFT_DETAIL_LINUX_PROCESS 1
#else
#define WEFT_DETAIL_LINUX_PROCESS 0
#endif

#if !defined(MSG_NOSIGNAL)
#define MSG_NOSIGNAL 0  // no such flag (older macOS): SO_NOSIGPIPE is set on every socket instead
#endif

namespace weft::detail {

// recvmsg's flag for descriptors born close-on-exec (portable path: none;
// passed_descriptor flags them).
#if WEFT_DETAIL_LINUX_PROCESS
inline constexpr int recv_cloexec = MSG_CMSG_CLOEXEC;
#else
inline constexpr int recv_cloexec = 0;
#endif

// Portable path: marks a new descriptor close-on-exec (and, for a socket,
// never SIGPIPE where SO_NOSIGPIPE exists). No-op on the Linux path, whose
// descriptors are born with the flag. Call it under the pools' fork lock.
inline void flag_new_descriptor(int fd, bool socket) noexcept {
#if WEFT_DETAIL_LINUX_PROCESS
  (void)fd;
  (void)socket;
#else
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
  if (socket) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
  }
#else
  (void)socket;
#endif
#endif
}

// A pair of connected AF_UNIX sockets of `type`, flagged as above. Returns
// 0, or -1 with errno set.
inline int make_socketpair(int type, int ends[2]) noexcept {
#if WEFT_DETAIL_LINUX_PROCESS
  return ::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, ends);
#else
  if (::socketpair(AF_UNIX, type, 0, ends) != 0) return -1;
  for (int i = 0; i < 2; ++i) flag_new_descriptor(ends[i], true);
  return 0;
#endif
}

// Writes all bytes; false when the peer is gone.
inline bool send_all(int fd, const void* data, std::size_t n) noexcept {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// Reads exactly n bytes; false at end of stream or on error.
inline bool recv_all(int fd, void* data, std::size_t n) noexcept {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// The descriptors process pools hold in this process (their ends of the
// fork-server and worker sockets, their wake pipes), and the pools' fork
// lock. A new fork server turns every descriptor it inherits into /dev/null
// (neutralize_inherited_descriptors), so a pool's processes never hold another
// pool's descriptor (one held open would hide the end of stream that tells
// that pool's worker or fork server to leave) nor the program's.
// Thread-safe. The lock is never held across a fork of weft's; a fork()
// handler takes it before any fork of the program and releases it on both
// sides, so no child (a worker building its own pool, a fork()ed copy of
// the program) inherits it held by a thread that does not exist there.
class pool_descriptors {
 public:
  static pool_descriptors& instance() {
    static pool_descriptors registry;
    return registry;
  }
  std::mutex& mutex() noexcept { return mutex_; }
  // Lists fd. Caller holds mutex().
  void add_locked(int fd) { fds_.push_back(fd); }
  void add(int fd) {
    std::lock_guard lock(mutex_);
    add_locked(fd);
  }
  // Unlists fd; its owner closes it.
  void forget(int fd) noexcept {
    std::lock_guard lock(mutex_);
    std::erase(fds_, fd);
  }
  // Unlists and closes fd.
  void close(int fd) noexcept {
    if (fd < 0) return;
    std::lock_guard lock(mutex_);
    std::erase(fds_, fd);
    ::close(fd);
  }

 private:
  pool_descriptors() {
    // prepare: no other thread is inside the lock at the fork; parent and
    // child: the forking thread releases it (in the child, the only thread).
    ::pthread_atfork([] { instance().mutex_.lock(); }, [] { instance().mutex_.unlock(); },
                     [] { instance().mutex_.unlock(); });
  }
  std::mutex mutex_;
  std::vector<int> fds_;  // guarded by mutex_
};

// Counts the fork()s between the first process that used weft's process
// side and this one: a fork handler increments it in every child. A pool
// built under one value and used under another is being used from a
// fork()ed copy of the program (a worker, a daemon()), where its
// dispatcher thread does not exist. relaxed: the value changes only in a
// child before any of its threads but the forking one exists.
inline std::atomic<unsigned>& fork_generation() noexcept {
  static std::atomic<unsigned> generation{0};
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { fork_generation().fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  return generation;
}

// A self-pipe: any thread notify()s, the owner's poll loop sees the read end
// readable and drain()s it. Both ends are non-blocking: a full pipe already
// means "notified", and draining stops at empty instead of blocking (a
// blocking read end hung the dispatcher whenever exactly a multiple of the
// drain chunk was pending).
class self_pipe {
 public:
  self_pipe() {
    int ends[2];
#if WEFT_DETAIL_LINUX_PROCESS
    if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno(errno, "weft: pipe2");
#else
    {
      std::lock_guard lock(pool_descriptors::instance().mutex());  // the fork lock: see flag_new_descriptor
      if (::pipe(ends) != 0) throw_errno(errno, "weft: pipe");
      for (int fd : ends) {
        flag_new_descriptor(fd, false);
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
      }
    }
#endif
    read_ = ends[0];
    write_ = ends[1];
  }
  ~self_pipe() {
    ::close(read_);
    ::close(write_);
  }
  self_pipe(const self_pipe&) = delete;
  self_pipe& operator=(const self_pipe&) = delete;

  int read_end() const noexcept { return read_; }
  void notify() const noexcept {
    char byte = 1;
    [[maybe_unused]] ssize_t k = ::write(write_, &byte, 1);  // EAGAIN: full, already notified
  }
  void drain() const noexcept {
    char buf[256];
    while (::read(read_, buf, sizeof buf) > 0) {
    }
  }
  int write_end() const noexcept { return write_; }

 private:
  int read_ = -1, write_ = -1;
};

// A self_pipe written only when its reader may be asleep. A poll loop that
// spins between messages (activity_window) would otherwise pay a write()
// per ring and a read() to drain it, for news it finds by itself anyway.
//
// Ringer: ring() after changing what the reader looks at.
// Reader, each turn: look() just before it looks at that state (and only
// then); rang() says a ring came since; before a poll() that may sleep,
// may_sleep() (false: do not sleep, a ring came), and awake() after it.
// No lost wake-up: ring() is R1 (count) then R2 (read asleep_); may_sleep()
// is S1 (set asleep_) then S2 (read the count), all seq_cst, so either S2
// sees R1's ring and the reader does not sleep, or R2 sees S1 and writes.
class doorbell {
 public:
  void ring() noexcept {
    rings_.fetch_add(1, std::memory_order_seq_cst);           // R1
    if (asleep_.load(std::memory_order_seq_cst)) pipe_.notify();  // R2
  }
  void look() noexcept { seen_ = rings_.load(std::memory_order_seq_cst); }
  bool rang() const noexcept { return rings_.load(std::memory_order_seq_cst) != seen_; }
  bool may_sleep() noexcept {
    asleep_.store(true, std::memory_order_seq_cst);  // S1
    if (!rang()) return true;                        // S2
    awake();
    return false;
  }
  // relaxed: a ringer that still reads true only writes a byte too many.
  void awake() noexcept { asleep_.store(false, std::memory_order_relaxed); }
  void drain() const noexcept { pipe_.drain(); }
  int read_end() const noexcept { return pipe_.read_end(); }
  int write_end() const noexcept { return pipe_.write_end(); }

 private:
  self_pipe pipe_;
  std::atomic<std::uint64_t> rings_{0};
  std::atomic<bool> asleep_{false};
  std::uint64_t seen_ = 0;  // reader only
};

// Polls fd, yielding the core, while `window` is open; returns as soon as
// it is readable (or closed). The caller's blocking read follows either way.
inline void poll_while_open(int fd, const activity_window& window) noexcept {
  pollfd p{fd, POLLIN, 0};
  while (window.open()) {
    if (::poll(&p, 1, 0) != 0) return;
    std::this_thread::yield();
  }
}

// Writes one frame (length, then payload) with as few system calls as the
// socket allows: header and payload leave in one sendmsg when they fit.
// Blocking; false when the peer is gone.
inline bool send_frame(int fd, std::span<const std::byte> payload) noexcept {
  std::uint64_t n = payload.size();
  iovec iov[2] = {{&n, sizeof n}, {const_cast<std::byte*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  while (msg.msg_iovlen > 0) {
    ssize_t k = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    auto done = static_cast<std::size_t>(k);
    while (msg.msg_iovlen > 0 && done >= msg.msg_iov->iov_len) {  // drop the iovecs written whole
      done -= msg.msg_iov->iov_len;
      ++msg.msg_iov;
      --msg.msg_iovlen;
    }
    if (msg.msg_iovlen > 0) {
      msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + done;
      msg.msg_iov->iov_len -= done;
    }
  }
  return true;
}

// Reads the next frame into `payload` (resized; its capacity is reused, and
// its bytes are not zeroed first when it is large enough already). False at
// end of stream, or for a frame over max_bytes.
inline bool recv_frame_into(int fd, std::vector<std::byte>& payload, std::uint64_t max_bytes = std::uint64_t{1} << 36) {
  std::uint64_t n = 0;
  if (!recv_all(fd, &n, sizeof n) || n > max_bytes) return false;
  payload.resize(static_cast<std::size_t>(n));
  return recv_all(fd, payload.data(), payload.size());
}

// One message of n bytes with room for one passed descriptor (SCM_RIGHTS).
struct fd_message {
  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  fd_message(void* data, std::size_t n) noexcept : iov{data, n} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  fd_message(const fd_message&) = delete;  // msg points into this object
  fd_message& operator=(const fd_message&) = delete;
};

// Sends `data` plus one file descriptor.
inline bool send_with_fd(int socket, const void* data, std::size_t n, int fd_to_pass) noexcept {
  fd_message m(const_cast<void*>(data), n);
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  ssize_t k;
  do {
    k = ::sendmsg(socket, &m.msg, MSG_NOSIGNAL);
  } while (k < 0 && errno == EINTR);
  return k == static_cast<ssize_t>(n);
}

// The descriptor a received message carries, or -1; flagged as a new
// descriptor (the caller holds the fork lock on the portable path).
inline int passed_descriptor(msghdr& msg) noexcept {
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  if (fd >= 0) flag_new_descriptor(fd, true);
  return fd;
}

// Receives exactly n bytes of one message and the descriptor it carries, if
// any (-1 otherwise). False at end of stream.
inline bool recv_with_fd(int socket, void* data, std::size_t n, int& fd_received) noexcept {
  fd_message m(data, n);
  ssize_t k;
  do {
    k = ::recvmsg(socket, &m.msg, recv_cloexec);
  } while (k < 0 && errno == EINTR);
  if (k != static_cast<ssize_t>(n)) return false;
  fd_received = passed_descriptor(m.msg);
  return true;
}


// Non-blocking receive of one message of exactly n bytes and the
// descriptor it carries, if any (-1 otherwise).
enum class receive_status { message, empty, closed, malformed };
inline receive_status try_recv_with_fd(int socket, void* data, std::size_t n, int& fd_received) noexcept {
  fd_message m(data, n);
  ssize_t k;
  do {
    k = ::recvmsg(socket, &m.msg, recv_cloexec | MSG_DONTWAIT);
  } while (k < 0 && errno == EINTR);
  if (k < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? receive_status::empty : receive_status::closed;
  if (k == 0) return receive_status::closed;
  fd_received = passed_descriptor(m.msg);
  return k == static_cast<ssize_t>(n) ? receive_status::message : receive_status::malformed;
}

// Outgoing frames to one non-blocking peer: send() writes what the socket
// takes now and keeps the rest; flush() continues when the peer is writable.
// A busy peer therefore never blocks the caller. Not thread-safe.
//
// Lending: send(..., lent = true) with nothing queued keeps what the socket
// did not take of the payload by reference instead of copying it (a 1 MiB
// task leaves in several writes; copying the rest cost a memcpy per task).
// The caller then keeps those bytes alive and unchanged until empty(), or
// until reclaim() copied them; a later send() copies them first (frames
// leave in order).
class frame_writer {
 public:
  bool empty() const noexcept { return sent_ == pending_.size() && lent_.empty(); }
  // Queues one frame; false when the peer is gone. Zero copy when nothing
  // is queued and the socket takes the whole frame.
  bool send(int fd, std::span<const std::byte> payload, bool lent = false) {
    std::uint64_t n = payload.size();
    auto* header = reinterpret_cast<const std::byte*>(&n);
    std::size_t done = 0;
    if (empty()) {
      iovec iov[2] = {{const_cast<std::byte*>(header), sizeof n},
                      {const_cast<std::byte*>(payload.data()), payload.size()}};
      ssize_t k = send_iov(fd, iov, 2);
      if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
      done = k < 0 ? 0 : static_cast<std::size_t>(k);
      if (done == sizeof n + payload.size()) return true;
    } else {
      lent = false;
      reclaim();
    }
    compact();
    if (done < sizeof n) pending_.insert(pending_.end(), header + done, header + sizeof n);
    std::size_t from = done > sizeof n ? done - sizeof n : 0;
    if (lent) {
      lent_ = payload.subspan(from);
    } else {
      pending_.insert(pending_.end(), payload.begin() + static_cast<std::ptrdiff_t>(from), payload.end());
    }
    return true;
  }
  // Writes queued bytes until the socket is full; false when the peer is gone.
  bool flush(int fd) noexcept {
    while (!empty()) {
      iovec iov[2];
      int count = 0;
      if (sent_ < pending_.size()) iov[count++] = {pending_.data() + sent_, pending_.size() - sent_};
      if (!lent_.empty()) iov[count++] = {const_cast<std::byte*>(lent_.data()), lent_.size()};
      ssize_t k = send_iov(fd, iov, count);
      if (k < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      auto done = static_cast<std::size_t>(k);
      std::size_t own = std::min(done, pending_.size() - sent_);
      sent_ += own;
      lent_ = lent_.subspan(done - own);
    }
    compact();
    return true;
  }
  // Copies the lent bytes into the writer, if they lie inside `owner` (the
  // caller is about to free or change it); with no argument, in any case.
  void reclaim(std::span<const std::byte> owner) {
    if (!lent_.empty() && lent_.data() >= owner.data() && lent_.data() < owner.data() + owner.size()) reclaim();
  }
  void reclaim() {
    pending_.insert(pending_.end(), lent_.begin(), lent_.end());
    lent_ = {};
  }

 private:
  // One non-blocking sendmsg of `count` iovecs (EINTR retried): bytes
  // written, or -1 with errno.
  static ssize_t send_iov(int fd, iovec* iov, int count) noexcept {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(count);
    ssize_t k;
    do {
      k = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (k < 0 && errno == EINTR);
    return k;
  }
  void compact() {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(sent_));
    sent_ = 0;
  }
  std::vector<std::byte> pending_;  // queued bytes; [0, sent_) already written
  std::size_t sent_ = 0;
  std::span<const std::byte> lent_;  // the caller's bytes, written after pending_
};

// Incoming frames from one non-blocking peer, reassembled across reads.
// Not thread-safe.
class frame_reader {
 public:
  enum class status { open, closed, corrupt };
  // Part of a frame arrived, not all of it: its sender is writing it.
  bool mid_frame() const noexcept { return begin_ != end_; }
  // Bytes read so far (all frames): whether a frame in progress moves.
  std::uint64_t received() const noexcept { return received_; }
  // Reads what the socket holds now (at most about `budget` bytes, so one
  // busy peer does not starve the others) and calls on_frame(span) for every
  // complete frame; the span is valid during the call only. `closed` at end
  // of stream, `corrupt` for a frame over max_bytes.
  template <class OnFrame>
  status read(int fd, OnFrame&& on_frame, std::size_t budget = std::size_t{4} << 20,
              std::uint64_t max_bytes = std::uint64_t{1} << 36) {
    std::size_t taken = 0;
    for (;;) {
      std::size_t want = wanted(max_bytes);
      if (want == 0) return status::corrupt;
      reserve(want);
      ssize_t k = ::recv(fd, data_.get() + end_, want, MSG_DONTWAIT);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? status::open : status::closed;
      if (k == 0) return status::closed;
      end_ += static_cast<std::size_t>(k);
      taken += static_cast<std::size_t>(k);
      received_ += static_cast<std::uint64_t>(k);
      if (!deliver(on_frame, max_bytes)) return status::corrupt;
      if (static_cast<std::size_t>(k) < want || taken >= budget) return status::open;
    }
  }

 private:
  static constexpr std::size_t header = sizeof(std::uint64_t);
  static constexpr std::size_t min_read = 4096;
  // The buffer a frame grew is kept while it is at most this big, so a
  // stream of frames of a few MiB (a 1 MiB argument or result plus framing)
  // allocates nothing per frame; a bigger one's buffer is not kept for good.
  static constexpr std::size_t keep_capacity = std::size_t{4} << 20;
  std::uint64_t next_length() const noexcept {
    std::uint64_t n;
    std::memcpy(&n, data_.get() + begin_, header);
    return n;
  }
  // Bytes to ask for: the rest of the frame in progress, at least min_read;
  // 0 if its length field is over max_bytes.
  std::size_t wanted(std::uint64_t max_bytes) const noexcept {
    std::size_t have = end_ - begin_;
    if (have < header) return min_read;
    std::uint64_t n = next_length();
    if (n > max_bytes) return 0;
    std::size_t missing = header + static_cast<std::size_t>(n) - have;
    return missing > min_read ? missing : min_read;
  }
  template <class OnFrame>
  bool deliver(OnFrame& on_frame, std::uint64_t max_bytes) {
    while (end_ - begin_ >= header) {
      std::uint64_t n = next_length();
      if (n > max_bytes) return false;
      if (end_ - begin_ < header + n) break;
      on_frame(std::span<const std::byte>(data_.get() + begin_ + header, static_cast<std::size_t>(n)));
      begin_ += header + static_cast<std::size_t>(n);
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
      if (capacity_ > keep_capacity) {  // a big frame's buffer is not kept for good
        data_.reset();
        capacity_ = 0;
      }
    }
    return true;
  }
  // Room for `more` bytes after end_ (moving unread bytes to the front).
  // Uninitialized storage: no zero fill per read.
  void reserve(std::size_t more) {
    if (end_ + more <= capacity_) return;
    std::size_t have = end_ - begin_;
    if (have + more <= capacity_) {
      std::memmove(data_.get(), data_.get() + begin_, have);
      begin_ = 0;
      end_ = have;
      return;
    }
    std::size_t cap = std::max(capacity_ * 2, have + more);
    std::unique_ptr<std::byte[]> bigger(new std::byte[cap]);  // uninitialized (libc++ 14 lacks make_unique_for_overwrite)
    if (have != 0) std::memcpy(bigger.get(), data_.get() + begin_, have);
    data_ = std::move(bigger);
    capacity_ = cap;
    begin_ = 0;
    end_ = have;
  }
  std::unique_ptr<std::byte[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes: [begin_, end_)
  std::uint64_t received_ = 0;       // bytes read, all frames
};

}  // namespace weft::detail
