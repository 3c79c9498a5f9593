// weft — MIT licence. See LICENSE.
//
// <weft/detail/fork_server.hpp> — internal: process_pool's transport. Not API.
//
// The processes behind a process_pool: a single-threaded fork server (see
// fork_server::start for how it is made out of sight of the program's
// wait()) that forks every worker and reports their deaths, and the
// worker's loop. The
// pool talks to the fork server over a SOCK_SEQPACKET socket (zygote_request
// / zygote_message), and to each worker over its own stream socket, which
// the fork server passes to the pool (SCM_RIGHTS) with the 'S' answer.
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error "weft's process components need POSIX"
#endif

#include <weft/detail/config.hpp>  // cpu_relax
#include <weft/detail/ipc.hpp>
#include <weft/detail/remote_task.hpp>
#include <weft/detail/shm_ring.hpp>
#include <weft/serialize.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <cerrno>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if WEFT_DETAIL_LINUX_PROCESS  // detail/ipc.hpp: the Linux or the portable process path
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif
#if defined(__GLIBC__)
#include <stdio_ext.h>  // __fpurge
#endif

namespace weft::detail {

// The fork server installs no SIGCHLD handler (it must not depend on the
// program's signal dispositions, which it inherits), so it polls waitpid()
// this often while it waits for requests: a dead worker is reported within
// 20 ms, for 50 wake-ups a second of an otherwise idle process.
inline constexpr int fork_server_poll_ms = 20;

// Requests from the pool to the fork server: 'S' spawn a worker on the
// channel slot `pid` names (the pool's; see process_pool), 'Q' quit
// once the workers left, 'K' send `signal` to worker `pid` (0: to every
// worker). The fork server signals only its own children that it has not
// reaped yet, so a pid is never reused under it. End of stream means the
// pool's process died: the fork server kills its workers.
struct zygote_request {
  char kind;
  int pid;
  int signal;
};

// Messages from the fork server to the pool.
struct zygote_message {
  char kind;   // 'H' hello (pid), 'S' spawned (socket attached), 'E' spawn failed (status = errno),
               // 'D' died (status = waitpid status)
  int pid;
  int status;
};

// What the program buffered in its standard output streams, written
// before a fork so that no copy writes it again. Calls only what the
// program's own use of these streams calls. Only stdout and stderr: a
// fflush(nullptr) would lock every FILE, stdin included, which another
// thread may hold for as long as it waits in fgets() for a line.
inline void flush_standard_streams() noexcept {
  try {
    std::cout.flush();
    std::clog.flush();
  } catch (...) {  // an exceptions() mask the program set: the text stays buffered, as before
  }
  std::fflush(stdout);
  std::fflush(stderr);
}

// A worker that leaves: its task's output, and what the task buffered in
// files it opened (exit() would write those; _exit() does not). The
// worker's one thread is the task's: no lock is held elsewhere.
inline void flush_worker_streams() noexcept {
  flush_standard_streams();
  std::fflush(nullptr);
}

// Before a pool makes its first descriptor: a program that closed 0, 1 or
// 2 gets /dev/null there (as Python's subprocess does), so no socket or
// pipe of the pool takes a standard stream's number, where task output
// would go into the pool's protocol and the fork server, which keeps 0-2,
// would hold the pool's own descriptor.
inline void open_standard_descriptors() noexcept {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int null = ::open("/dev/null", O_RDWR);  // the lowest free number: fd, unless another thread took it
    if (null >= 0 && null != fd) {
      ::dup2(null, fd);
      ::close(null);
    }
  }
}

// In a fork()ed child, once: drops what another thread of the program put
// in stdout/stderr between flush_standard_streams() and the fork (its
// original writes it), so no worker prints it a second time. No lock taken.
inline void discard_inherited_output() noexcept {
#if defined(__GLIBC__)
  ::__fpurge(stdout);
  ::__fpurge(stderr);
#endif
}

// In a freshly forked child (one thread): makes every descriptor but the
// standard streams and `keep` a descriptor of /dev/null, so the pool's
// processes hold nothing of the program's (a pipe of popen(), another
// pool's socket: no end of stream waits for them), while the numbers stay
// taken: a worker's socket never gets the number of a descriptor the
// program opened before the pool, which a task (a log descriptor) or a
// signal handler (a self-pipe) may still write to. No allocation.
inline void neutralize_inherited_descriptors(int keep) noexcept {
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  auto neutralize = [&](int fd) {
    if (fd <= 2 || fd == keep || fd == null) return;
    if (null < 0 || ::dup2(null, fd) < 0) ::close(fd);  // no /dev/null: released, at least
  };
  bool listed = false;
#if WEFT_DETAIL_LINUX_PROCESS && defined(SYS_getdents64)
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(8) char buffer[4096];
    long n;
    while ((n = ::syscall(SYS_getdents64, dir, buffer, sizeof buffer)) > 0) {
      for (long at = 0; at < n;) {
        // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name
        unsigned short reclen;
        std::memcpy(&reclen, buffer + at + 16, sizeof reclen);
        const char* name = buffer + at + 19;
        if (name[0] >= '0' && name[0] <= '9') {
          int fd = 0;
          for (const char* c = name; *c >= '0' && *c <= '9'; ++c) fd = fd * 10 + (*c - '0');
          if (fd != dir) neutralize(fd);
        }
        at += reclen;
      }
    }
    listed = n == 0;
    ::close(dir);
  }
#endif
  if (!listed) {
    rlimit r{};
    int top = 1 << 16;  // the loop's bound when the limit is unknown or huge
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < static_cast<rlim_t>(top))
      top = static_cast<int>(r.rlim_cur);
    for (int fd = 3; fd < top; ++fd)
      if (::fcntl(fd, F_GETFD) >= 0) neutralize(fd);
  }
  if (null >= 0) ::close(null);  // a number the program did not use: free for the pool's sockets
}

// The first frame a worker sends: true once the initializer returned, or
// false and its error. Sent before the first task is read.
inline bool send_initializer_outcome(int fd, void (*initializer)()) {
  std::vector<std::byte> hello;
  writer out(hello);
  bool ok = true;
  try {
    if (initializer != nullptr) initializer();
    out.write(true);
  } catch (const std::exception& e) {
    ok = false;
    out.write(false);
    out.write(demangled(typeid(e).name()) + ": " + e.what());
  } catch (...) {
    ok = false;
    out.write(false);
    out.write(std::string("a non-standard exception"));
  }
  return send_frame(fd, hello) && ok;
}

// The worker's tasks, in the order the pool sent them: from its ring
// (shm_ring.hpp), a marker record meaning the next frame on the socket. On
// the socket an empty frame asks the worker to stop. Spins on the ring
// while `window` is open (no system call but a sched_yield() now and then;
// one that lost the core for long closes the window), then sleeps on the
// ring's futex (S0-S4), looking at its socket every worker_sleep_check for
// a stop request or end of stream (the pool also wakes it when it stops
// it). False: stop (asked, end of stream, a revoked or corrupt ring, a
// broken protocol).
inline constexpr auto worker_sleep_check = std::chrono::milliseconds(100);
inline bool worker_next_task(int fd, shm_ring& ring, activity_window& window, std::vector<std::byte>& frame) {
  for (unsigned spins = 1;; ++spins) {
    bool marker = false;
    switch (ring.try_pop(frame, marker)) {
      case shm_ring::status::record:
        if (!marker) return true;
        return recv_frame_into(fd, frame) && !frame.empty();  // the frame follows on the socket
      case shm_ring::status::empty:
        break;
      default:  // corrupt, or revoked: the pool gave the task to another worker
        return false;
    }
    if (spins % 16 != 0) {  // the clock is read every 16th turn only: it cost more than the ring
      cpu_relax();
      continue;
    }
    if (window.open()) {
      window.yield();  // closes the window on a contended machine
      continue;
    }
    ring.sleep_for(worker_sleep_check);
    if (ring.has_record()) continue;
    pollfd p{fd, POLLIN, 0};
    const int k = ::poll(&p, 1, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 || (p.revents & POLLNVAL) != 0) return false;
    if (k == 0) continue;
    // Readable: a stop request or end of stream. A task frame follows its
    // marker, published before the frame was sent: look at the ring first.
    if (ring.has_record()) continue;
    return false;  // the empty frame, end of stream, or bytes that are not weft's: stop either way
  }
}

// The worker's reply: through the ring when it fits (then a wake-up on the
// socket if the dispatcher sleeps), else on the socket. The pool matches
// replies to tasks by id, so the two paths need no marker. False: the pool
// is gone.
inline bool worker_send_reply(int fd, shm_ring& ring, std::span<const std::byte> reply) {
  if (reply.size() <= shm_ring::inline_max && ring.try_push(reply, false)) {  // P1-P3
    if (ring.consumer_sleeping()) return send_frame(fd, {});                  // P4: an empty frame wakes the dispatcher
    return true;
  }
  return send_frame(fd, reply);
}

// The worker process: run the initializer, then serve tasks until told to
// stop, the pool goes away, or max_tasks tasks were run. Never returns.
// It reads a whole task before it writes its reply, replies before it takes
// the next task, and the dispatcher always reads, so blocking I/O here
// cannot deadlock with it. `channels`/`bytes`: the pool's channel region
// (the worker marks it MADV_DONTFORK: a task's fork() does not carry it).
[[noreturn]] inline void worker_main(int fd, void (*initializer)(), std::size_t max_tasks, worker_channel& channel,
                                     void* channels, std::size_t bytes) {
  // The program's SIGTERM handler (copied by fork) acts on the program's
  // state, not the worker's: terminate_workers() must end a worker.
  ::signal(SIGTERM, SIG_DFL);
  channel_region::keep_from_forks(channels, bytes);
  if (!send_initializer_outcome(fd, initializer)) {
    flush_worker_streams();
    ::_exit(1);
  }
  activity_window window(message_window);
  std::vector<std::byte> frame, reply;  // reused: a task costs no allocation for its frames
  for (std::size_t done = 0; max_tasks == 0 || done < max_tasks; ++done) {
    if (!worker_next_task(fd, channel.to_worker, window, frame)) break;
    // Forks of one process share its code addresses: code words are addresses.
    run_task_frame_into(frame, code_resolver{}, reply);
    flush_standard_streams();  // the task's output is out before its future completes
    if (!worker_send_reply(fd, channel.to_pool, reply)) break;
    window.mark();
  }
  flush_worker_streams();
  ::_exit(0);
}

// The fork server (below): forks one worker and reports it, or the error.
// `program_sigchld`: the program's SIGCHLD action, which the worker gets back.
inline void zygote_spawn(int control, std::vector<pid_t>& children, const struct sigaction& program_sigchld,
                         void (*initializer)(), std::size_t max_tasks, const channel_region& channels,
                         std::size_t slot) {
  auto refuse = [&](int err) {
    zygote_message m{'E', -1, err};
    ::send(control, &m, sizeof m, MSG_NOSIGNAL);
  };
  if (slot >= channels.slots()) return refuse(EINVAL);  // not weft's pool
  int pair[2];
  if (make_socketpair(SOCK_STREAM, pair) != 0) return refuse(errno);  // one thread here: no fork lock needed
  const pid_t server = ::getpid();
  // No flush: the fork server writes nothing (and a stdio lock it inherited
  // from another thread of the program may be held for good).
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(control);
    ::close(pair[0]);
    ::sigaction(SIGCHLD, &program_sigchld, nullptr);  // the task's children are the program's business
#if WEFT_DETAIL_LINUX_PROCESS
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the fork server (one thread: no thread-exit surprise)
    if (::getppid() != server) ::_exit(1);  // it died before prctl
#else
    (void)server;  // portable: the pool's end of stream on pair[1] tells the worker to leave
#endif
    worker_main(pair[1], initializer, max_tasks, channels[slot], channels.base(), channels.bytes());
  }
  int err = errno;
  ::close(pair[1]);
  if (pid < 0) {
    ::close(pair[0]);
    return refuse(err);
  }
  children.push_back(pid);
  zygote_message m{'S', pid, 0};
  send_with_fd(control, &m, sizeof m, pair[0]);
  ::close(pair[0]);
}

// The fork server: signals one of its unreaped children (pid), or all (0).
inline void signal_children(const std::vector<pid_t>& children, int pid, int sig) {
  for (pid_t c : children)
    if (pid == 0 || c == pid) ::kill(c, sig);
}

// The fork server: a single-threaded process, not a child of the program
// (see fork_server::start), that forks every worker. Serves spawn requests
// and reports its children's deaths until the pool asks it to quit (then it
// waits for the workers to leave) or the pool's process dies (then it kills
// them). Never returns.
[[noreturn]] inline void zygote_main(int control, void (*initializer)(), std::size_t max_tasks,
                                     const channel_region& channels) {
  // The program's signal mask and dispositions stay as they are (a program
  // that blocks SIGINT keeps its pool through a Ctrl-C to its group), except
  // SIGCHLD here: SIG_IGN would reap our children unseen, and a handler of
  // the program's must not run in this process. Workers get it back. The
  // children are found by polling waitpid(), which a blocked SIGCHLD does
  // not affect.
  struct sigaction program_sigchld {};
  struct sigaction plain {};
  plain.sa_handler = SIG_DFL;
  sigemptyset(&plain.sa_mask);
  ::sigaction(SIGCHLD, &plain, &program_sigchld);
  zygote_message hello{'H', static_cast<int>(::getpid()), 0};
  ::send(control, &hello, sizeof hello, MSG_NOSIGNAL);
  std::vector<pid_t> children;
  bool parent_open = true;
  while (parent_open || !children.empty()) {
    pollfd p{control, POLLIN, 0};
    int ready = ::poll(&p, parent_open ? 1 : 0, fork_server_poll_ms);
    if (ready < 0 && errno != EINTR) {  // e.g. EINVAL under RLIMIT_NOFILE 0: exit rather than spin
      for (pid_t c : children) ::kill(c, SIGKILL);
      ::_exit(1);
    }
    if (ready > 0) {
      zygote_request r{};
      ssize_t k = ::recv(control, &r, sizeof r, 0);  // SOCK_SEQPACKET: one request per recv
      bool whole = k == static_cast<ssize_t>(sizeof r);
      if (whole && r.kind == 'S') {
        zygote_spawn(control, children, program_sigchld, initializer, max_tasks, channels,
                     static_cast<std::size_t>(static_cast<unsigned>(r.pid)));
      } else if (whole && r.kind == 'K') {
        signal_children(children, r.pid, r.signal);
      } else if (!(k < 0 && errno == EINTR)) {
        parent_open = false;
        if (!(whole && r.kind == 'Q'))  // the pool's process died: its tasks are orphans
          signal_children(children, 0, SIGKILL);
      }
    }
    int status = 0;
    pid_t dead;
    while (!children.empty() && (dead = ::waitpid(-1, &status, WNOHANG)) > 0) {  // our own children only
      std::erase(children, dead);
      zygote_message m{'D', static_cast<int>(dead), status};
      if (parent_open) ::send(control, &m, sizeof m, MSG_NOSIGNAL);
    }
  }
  ::_exit(0);
}

// The middle process (a fork() of the program, so its memory is
// consistent: glibc's fork handlers ran): closes what it inherited, forks
// the fork server and exits at once, so the fork server is an orphan,
// adopted by init or by the nearest subreaper. Never returns.
//
// Why not hidden better: a process that wait() without __WALL skips must
// have been cloned with an exit signal other than SIGCHLD, by the program
// itself (a raw clone of a multithreaded program, whose copy may hold
// malloc's locks for good) or with CLONE_PARENT by a process that has such
// a signal itself (which again only such a clone can be). So a program that
// is a subreaper (or PID 1) adopts the fork server and sees it in wait()
// while the pool lives (README "Limits"); the pool reaps it (stop()), so it
// never stays a zombie.
[[noreturn]] inline void middle_main(int control, void (*initializer)(), std::size_t max_tasks,
                                     const channel_region& channels) {
  neutralize_inherited_descriptors(control);
  discard_inherited_output();
  pid_t server = ::fork();
  if (server == 0) zygote_main(control, initializer, max_tasks, channels);
  ::_exit(server < 0 ? 1 : 0);
}

// True if this process adopts its orphaned descendants: PID 1 (of its pid
// namespace, as in a container), or a child subreaper.
inline bool adopts_orphans() noexcept {
  if (::getpid() == 1) return true;
#if WEFT_DETAIL_LINUX_PROCESS && defined(PR_GET_CHILD_SUBREAPER)
  int subreaper = 0;
  return ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper) == 0 && subreaper != 0;
#else
  return false;
#endif
}

// The pool's end of its fork server, made through a middle process that
// exits at once (middle_main), so the fork server and the workers are not
// children of the program (unless it adopts orphans: see middle_main): a
// `while (wait(nullptr) > 0)` or a SIGCHLD handler of the program never
// sees them, and its SIGCHLD settings do not matter. No weft lock is held
// across the fork, and the signal mask and dispositions pass on as they
// are. The fork server sees the pool's process die as end of stream on the
// control socket.
// Owned by one pool; not thread-safe. Destruction closes the socket: the
// fork server then kills its workers and exits (RAII for a constructor that
// throws after the fork).
class fork_server {
 public:
  fork_server() = default;
  fork_server(const fork_server&) = delete;
  fork_server& operator=(const fork_server&) = delete;
  ~fork_server() { pool_descriptors::instance().close(fd_); }

  // Starts the fork server; returns once it said hello. Throws
  // std::system_error if it cannot be started.
  // `channels`: the pool's worker channels, mapped already (the fork
  // server and its workers inherit them).
  void start(void (*initializer)(), std::size_t max_tasks, const channel_region& channels);
  int fd() const noexcept { return fd_; }
  // Sends a request; false if the socket refused it now or the fork server
  // is gone.
  bool request(char kind, int pid = 0, int sig = 0) const noexcept {
    zygote_request r{kind, pid, sig};
    return ::send(fd_, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(sizeof r);
  }
  // Asks the fork server to quit, gracefully (it waits for the workers) or
  // not (it kills them), and returns once it exited (and, if this process
  // adopted it, was reaped). Blocks.
  void stop(bool kill_workers) noexcept;
  // In a fork()ed copy of the program: closes this copy's descriptor only;
  // the fork server belongs to the original.
  void abandon_in_copy() noexcept {
    ::close(fd_);
    fd_ = -1;
    adopted_pid_ = -1;
  }

 private:
  int fd_ = -1;             // SOCK_SEQPACKET; listed in pool_descriptors
  pid_t adopted_pid_ = -1;  // the fork server, if this process adopts orphans: stop() reaps it
};

inline void fork_server::start(void (*initializer)(), std::size_t max_tasks, const channel_region& channels) {
  auto& registry = pool_descriptors::instance();
  int control[2];
  if (make_socketpair(SOCK_SEQPACKET, control) != 0)
    throw_errno(errno, "weft::process_pool: socketpair for the fork server");
  try {
    registry.add(control[0]);
  } catch (...) {
    ::close(control[0]);
    ::close(control[1]);
    throw;
  }
  fd_ = control[0];
  flush_standard_streams();  // no buffered output is written twice
  pid_t middle = ::fork();   // no weft lock held: the pool's processes inherit none locked
  if (middle == 0) middle_main(control[1], initializer, max_tasks, channels);
  int fork_error = errno;
  ::close(control[1]);
  if (middle < 0) throw_errno(fork_error, "weft::process_pool: fork of the fork server");
  // ECHILD: the program ignores SIGCHLD or its handler reaped the middle
  // process first; the hello below tells whether the fork server runs.
  while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  zygote_message hello{};
  int none = -1;
  if (!recv_with_fd(fd_, &hello, sizeof hello, none) || hello.kind != 'H')
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                            "weft::process_pool: the fork server did not start");
  // The middle process has exited: an orphan's new parent is settled.
  if (adopts_orphans()) adopted_pid_ = hello.pid;
}

inline void fork_server::stop(bool kill_workers) noexcept {
  if (fd_ < 0) return;
  if (kill_workers || !request('Q')) ::shutdown(fd_, SHUT_WR);  // end of stream: it kills its workers
  char sink[64];
  ssize_t k;
  // Unread death reports, and spawned sockets (the kernel closes those).
  while ((k = ::recv(fd_, sink, sizeof sink, 0)) > 0 || (k < 0 && errno == EINTR)) {
  }
  pool_descriptors::instance().close(fd_);
  fd_ = -1;
  // End of stream: it is exiting. Adopted, it would stay a zombie (ECHILD:
  // the program's own wait() took it first). Our child until reaped, so
  // the pid cannot name another process.
  while (adopted_pid_ > 0 && ::waitpid(adopted_pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  adopted_pid_ = -1;
}

}  // namespace weft::detail
