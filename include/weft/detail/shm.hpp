// weft — MIT licence. See LICENSE.
//
// <weft/detail/shm.hpp> — internal: POSIX shared-memory plumbing (mappings,
// segment names, errno errors). Not API.
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error "weft's shared-memory components need POSIX (Linux, macOS)"
#endif

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace weft::detail {

[[noreturn]] inline void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// This process's pid without a system call per use (glibc no longer caches
// getpid()); a fork handler clears the cache in every child.
inline pid_t current_pid() noexcept {
  static std::atomic<pid_t> cached{0};
  static const bool registered = [] {
    // relaxed: the child runs this alone, before any of its threads exist.
    ::pthread_atfork(nullptr, nullptr, [] { cached.store(0, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  // relaxed: the value is this process's own constant; races only repeat getpid().
  pid_t pid = cached.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = ::getpid();
    cached.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

// A MAP_SHARED mapping, unmapped on destruction. Move-only.
class mapping {
 public:
  mapping() noexcept = default;
  mapping(void* addr, std::size_t bytes) noexcept : addr_(addr), bytes_(bytes) {}
  mapping(mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  mapping& operator=(mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~mapping() { reset(); }

  void* data() const noexcept { return addr_; }
  std::size_t size() const noexcept { return bytes_; }

  // Anonymous shared memory: inherited by every process forked afterwards.
  static mapping anonymous(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_errno(errno, "weft: mmap of " + std::to_string(bytes) + " shared bytes failed");
    return {p, bytes};
  }
  static mapping of_fd(int fd, std::size_t bytes, const std::string& what) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) throw_errno(errno, "weft: cannot map " + what);
    return {p, bytes};
  }

 private:
  void reset() noexcept {
    if (addr_ != nullptr) ::munmap(addr_, bytes_);
    addr_ = nullptr;
    bytes_ = 0;
  }
  void* addr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Closes a file descriptor on scope exit.
class fd_closer {
 public:
  explicit fd_closer(int fd) noexcept : fd_(fd) {}
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
  ~fd_closer() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_;
};

// Sizes a new segment to `bytes` and reserves its memory now, so that a
// segment larger than the free space of the shm filesystem fails here with
// std::system_error (ENOSPC), naming `what`, instead of with SIGBUS at the
// first touch of a page that was never reserved (ftruncate reserves
// nothing). Where the filesystem cannot preallocate (EOPNOTSUPP, EINVAL) or
// the OS has no posix_fallocate, it only sizes the segment. The caller
// unlinks and closes on failure. Blocks while the kernel allocates: O(bytes).
inline void size_segment(int fd, std::size_t bytes, const std::string& what) {
  if (bytes > static_cast<std::size_t>(std::numeric_limits<off_t>::max()))
    throw_errno(EFBIG, what + ": " + std::to_string(bytes) + " bytes is larger than a file can be");
  const auto length = static_cast<off_t>(bytes);
#if defined(__linux__)
  int rc;
  do {
    rc = ::posix_fallocate(fd, 0, length);  // returns the error; errno is untouched
  } while (rc == EINTR);
  if (rc == 0) return;
  if (rc != EOPNOTSUPP && rc != EINVAL)
    throw_errno(rc, what + ": cannot reserve " + std::to_string(bytes) + " bytes of shared memory");
#endif
  if (::ftruncate(fd, length) != 0) throw_errno(errno, what + ": cannot size it to " + std::to_string(bytes) + " bytes");
}

// POSIX segment names are "/" followed by up to NAME_MAX - 1 characters and
// no further slash. weft accepts "name" or "/name" and returns "/name". A
// bad name throws std::system_error (EINVAL, ENAMETOOLONG) naming it, as the
// OS would for the same name.
inline std::string shm_name(std::string_view name) {
  std::string n(name);
  if (!n.empty() && n.front() != '/') n.insert(n.begin(), '/');
  if (n.size() <= 1) throw_errno(EINVAL, "weft::shared_memory: empty segment name");
  if (n.find('/', 1) != std::string::npos)
    throw_errno(EINVAL, "weft::shared_memory: segment name '" + n + "' contains '/' after the first character");
  if (n.size() > 255)
    throw_errno(ENAMETOOLONG, "weft::shared_memory: segment name '" + n.substr(0, 32) +
                                  "...' is longer than 255 characters");
  return n;
}

}  // namespace weft::detail
