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

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#if !defined(MSG_NOSIGNAL)
#define MSG_NOSIGNAL 0  // macOS: SO_NOSIGPIPE is set on the socket instead
#endif

namespace weft::detail {

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

// A self-pipe: any thread notify()s, the owner's poll loop sees the read end
// readable and drain()s it. Both ends are non-blocking: a full pipe already
// means "notified", and draining stops at empty instead of blocking (a
// blocking read end hung the dispatcher whenever exactly a multiple of the
// drain chunk was pending).
class self_pipe {
 public:
  self_pipe() {
    int ends[2];
    if (::pipe(ends) != 0) throw_errno(errno, "weft: pipe");
    for (int fd : ends) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
    }
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
  // For a forked child that must not hold the pipe.
  void close_in_child() const noexcept {
    ::close(read_);
    ::close(write_);
  }

 private:
  int read_ = -1, write_ = -1;
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

inline bool send_frame(int fd, std::span<const std::byte> payload) noexcept {
  std::uint64_t n = payload.size();
  return send_all(fd, &n, sizeof n) && send_all(fd, payload.data(), payload.size());
}

// The next frame, or nullopt at end of stream (or a frame over max_bytes).
inline std::optional<std::vector<std::byte>> recv_frame(int fd, std::uint64_t max_bytes = std::uint64_t{1} << 36) {
  std::uint64_t n = 0;
  if (!recv_all(fd, &n, sizeof n) || n > max_bytes) return std::nullopt;
  std::vector<std::byte> payload(static_cast<std::size_t>(n));
  if (!recv_all(fd, payload.data(), payload.size())) return std::nullopt;
  return payload;
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

// Receives exactly n bytes of one message and the descriptor it carries, if
// any (-1 otherwise). False at end of stream.
inline bool recv_with_fd(int socket, void* data, std::size_t n, int& fd_received) noexcept {
  fd_message m(data, n);
  ssize_t k;
  do {
    k = ::recvmsg(socket, &m.msg, MSG_CMSG_CLOEXEC);
  } while (k < 0 && errno == EINTR);
  if (k != static_cast<ssize_t>(n)) return false;
  fd_received = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg); c != nullptr; c = CMSG_NXTHDR(&m.msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd_received, CMSG_DATA(c), sizeof(int));
  return true;
}

}  // namespace weft::detail
