// weft — MIT licence. See LICENSE.
//
// <weft/process_pool.hpp> — a pool of worker processes returning
// weft::future: the C++ counterpart of multiprocessing.Pool and
// concurrent.futures.ProcessPoolExecutor. POSIX only.
#pragma once

#if !defined(__unix__) && !defined(__APPLE__)
#error "<weft/process_pool.hpp> needs POSIX processes (Linux, macOS); it is not available on this platform"
#endif

#include <weft/detail/ipc.hpp>
#include <weft/detail/remote_task.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/serialize.hpp>
#include <weft/pool_options.hpp>  // default_workers, workload, shutdown_mode

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <iterator>  // std::ranges::begin, end, iterator_t (not <ranges>: no views are used)
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#if WEFT_DETAIL_LINUX_PROCESS  // detail/ipc.hpp: the Linux or the portable process path
#include <sys/prctl.h>
#endif

namespace weft {

struct process_pool_options {
  std::size_t workers = default_workers(workload::cpu);
  // Runs once in each worker process after it starts (like Python's
  // initializer=), e.g. to open a per-process resource.
  void (*initializer)() = nullptr;
  // Replace a worker after it ran this many tasks (0: never).
  std::size_t max_tasks_per_child = 0;
};

namespace detail {

// How long the worker and the dispatcher poll, yielding, after a message
// before they block: a round trip then costs no wake-up of a sleeping process.
inline constexpr auto message_window = std::chrono::microseconds(200);

// The fork server installs no SIGCHLD handler (it must not depend on the
// program's signal dispositions, which it inherits), so it polls waitpid()
// this often while it waits for requests: a dead worker is reported within
// 20 ms, for 50 wake-ups a second of an otherwise idle process.
inline constexpr int fork_server_poll_ms = 20;

// The dispatcher's longest sleep in poll(). Every event it serves (a reply,
// a death report, submit()'s wake byte, a writable worker) wakes it earlier;
// the timeout only bounds how late a spawn request the fork server's socket
// refused (EAGAIN) is retried.
inline constexpr int dispatcher_poll_ms = 100;

// Consecutive failed spawns (EMFILE, EAGAIN in the fork server) after which
// the pool reports itself broken instead of retrying forever, and the pause
// before a retry (the condition may pass; meanwhile the death report of the
// worker being replaced arrives, so its task fails with worker_lost).
inline constexpr std::size_t max_spawn_failures = 3;
inline constexpr auto spawn_retry_delay = std::chrono::milliseconds(dispatcher_poll_ms);

// Requests from the pool to the fork server: 'S' spawn a worker, 'Q' quit
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

// Reports a broken protocol between the pool and its processes; the caller
// then drops the offending peer.
inline void report_anomaly(const char* what) noexcept { std::fprintf(stderr, "weft::process_pool: %s\n", what); }

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

// The worker process: run the initializer, then serve tasks until told to
// stop, the pool goes away, or max_tasks tasks were run. Never returns.
// It reads a whole task before it writes its reply, and the dispatcher
// always reads, so blocking I/O here cannot deadlock with it.
[[noreturn]] inline void worker_main(int fd, void (*initializer)(), std::size_t max_tasks) {
  // The program's SIGTERM handler (copied by fork) acts on the program's
  // state, not the worker's: terminate_workers() must end a worker.
  ::signal(SIGTERM, SIG_DFL);
  if (!send_initializer_outcome(fd, initializer)) {
    std::fflush(nullptr);
    ::_exit(1);
  }
  activity_window window(message_window);
  for (std::size_t done = 0; max_tasks == 0 || done < max_tasks; ++done) {
    poll_while_open(fd, window);  // the next task of a batch comes within microseconds
    auto frame = recv_frame(fd);
    if (!frame || frame->empty()) break;  // pool gone, or asked to stop
    // Forks of one process share its code addresses: code words are addresses.
    auto reply = run_task_frame(*frame, code_resolver{});
    if (!send_frame(fd, reply)) break;
    window.mark();
  }
  std::fflush(nullptr);
  ::_exit(0);
}

// submit_with's timeout as the dispatcher counts it: 0 for none (zero or
// longer than a century, infinity included). Throws std::invalid_argument
// for a negative or NaN timeout.
inline std::chrono::nanoseconds task_timeout(std::chrono::duration<double> timeout) {
  if (!(timeout.count() >= 0)) throw std::invalid_argument("weft::process_pool::submit_with: a negative timeout");
  if (timeout > std::chrono::hours(24 * 365 * 100)) return std::chrono::nanoseconds{0};
  return std::chrono::ceil<std::chrono::nanoseconds>(timeout);  // a positive timeout never rounds to "none"
}

// The fork server (below): forks one worker and reports it, or the error.
inline void zygote_spawn(int control, std::vector<pid_t>& children, void (*initializer)(), std::size_t max_tasks) {
  auto refuse = [&](int err) {
    zygote_message m{'E', -1, err};
    ::send(control, &m, sizeof m, MSG_NOSIGNAL);
  };
  int pair[2];
  if (make_socketpair(SOCK_STREAM, pair) != 0) return refuse(errno);  // one thread here: no fork lock needed
  const pid_t server = ::getpid();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(control);
    ::close(pair[0]);
#if WEFT_DETAIL_LINUX_PROCESS
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the fork server (one thread: no thread-exit surprise)
    if (::getppid() != server) ::_exit(1);  // it died before prctl
#else
    (void)server;  // portable: the pool's end of stream on pair[1] tells the worker to leave
#endif
    worker_main(pair[1], initializer, max_tasks);
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
[[noreturn]] inline void zygote_main(int control, void (*initializer)(), std::size_t max_tasks) {
  // Inherited dispositions must not hide our children: SIG_IGN would reap
  // them unseen, a blocked or handled SIGCHLD is the program's business.
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
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
        zygote_spawn(control, children, initializer, max_tasks);
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

// The pool's end of its fork server. The fork server is forked twice (the
// middle process exits at once), so it and the workers are not children of
// the program: a `while (wait(nullptr) > 0)` or a SIGCHLD handler of the
// program never sees them, and its SIGCHLD settings do not matter. It sees
// the pool's process die as end of stream on the control socket.
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
  void start(void (*initializer)(), std::size_t max_tasks);
  int fd() const noexcept { return fd_; }
  // Sends a request; false if the socket refused it now or the fork server
  // is gone.
  bool request(char kind, int pid = 0, int sig = 0) const noexcept {
    zygote_request r{kind, pid, sig};
    return ::send(fd_, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(sizeof r);
  }
  // Asks the fork server to quit, gracefully (it waits for the workers) or
  // not (it kills them), and returns once it exited. Blocks.
  void stop(bool kill_workers) noexcept;
  // In a fork()ed copy of the program: closes this copy's descriptor only;
  // the fork server belongs to the original.
  void abandon_in_copy() noexcept {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;  // SOCK_SEQPACKET; listed in pool_descriptors
};

inline void fork_server::start(void (*initializer)(), std::size_t max_tasks) {
  auto& registry = pool_descriptors::instance();
  int control[2];
  pid_t middle;
  int fork_error;
  {
    std::lock_guard lock(registry.mutex());  // no pool descriptor opens unlisted while we fork
    if (make_socketpair(SOCK_SEQPACKET, control) != 0)
      throw_errno(errno, "weft::process_pool: socketpair for the fork server");
    try {
      registry.add_locked(control[0]);
    } catch (...) {
      ::close(control[0]);
      ::close(control[1]);
      throw;
    }
    fd_ = control[0];
    std::fflush(nullptr);  // no buffered output is written twice
    middle = ::fork();
    if (middle == 0) {
      registry.close_all_in_child();  // every pool's descriptors, this one's end included
      pid_t server = ::fork();
      if (server == 0) zygote_main(control[1], initializer, max_tasks);
      ::_exit(server < 0 ? 1 : 0);
    }
    fork_error = errno;
  }
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
}

}  // namespace detail

// Worker processes that run functions and return weft::future (like
// ProcessPoolExecutor / multiprocessing.Pool).
//
// Processes: the constructor forks a fork server (through a middle process
//   that exits at once, so the pool's processes are not the program's
//   children: the program's wait() loops and SIGCHLD settings never see
//   them). Every worker, including replacements, is forked from the fork
//   server, which is single-threaded. Workers are therefore copies of the
//   program as it was when the pool was constructed: build pools before
//   starting threads (like Python's fork start method), or at least while no
//   other thread holds a lock that tasks or the initializer take. The fork
//   server and the workers close every descriptor of the other pools. They
//   die with the program: the fork server sees end of stream on its socket
//   and kills the workers (workers also die with the fork server:
//   PR_SET_PDEATHSIG on Linux, end of stream elsewhere).
// What can be submitted: f is a function pointer or a trivially copyable
//   callable (e.g. a lambda capturing ints by value); it runs in a fork of
//   this binary, so code addresses are valid. Arguments and the result must
//   be serializable (weft::serializer). Anything else does not compile.
// Thread-safety: every member may be called from any thread, except the
//   destructor. Blocking: submit() and submit_with() never block; map(),
//   shutdown(), terminate_workers() and kill_workers() do.
//   The dispatcher thread never blocks on a peer: it writes to and reads
//   from every worker without blocking, buffering what a busy one cannot
//   take, so no payload size deadlocks the pool.
// Exceptions: submit()/map() throw weft::pool_closed after shutdown(). A
//   task's exception arrives as weft::remote_error (what() and type_name() of
//   the original); a task whose worker died (signal, exit(), abort, OOM kill)
//   fails with weft::worker_lost, the worker is replaced and the other tasks
//   go on; a task past its submit_with() timeout fails with weft::timeout
//   the same way. The pool becomes broken (like Python's BrokenProcessPool) when
//   the initializer throws or exits, when the fork server dies, or when it
//   fails to start a worker 3 times in a row: running and pending tasks then
//   fail with weft::pool_broken naming the cause, and later submits throw
//   it. std::system_error if the fork server cannot start.
// Maps: map(), imap() and imap_unordered() (Python's Pool.map, imap,
//   imap_unordered) are inherited from detail::remote_maps, one definition
//   for both remote pools; their contracts are written there.
// Ordering: map() keeps input order; tasks start in submission order.
// Cost: per task one frame each way over a socketpair (one system call per
//   side when the socket has room); map() sends chunks of `chunksize` items
//   as one task. After each message the worker and the dispatcher poll for
//   200 us, yielding the core, before they block: back-to-back tasks cost no
//   process wake-up.
// Lifetime: the destructor drains (runs every submitted task), then stops
//   the workers and waits for the fork server to exit. In a fork()ed copy
//   of the program (another pid than the pool's creator) the destructor only
//   closes the copy's descriptors and never touches the pool's processes.
class process_pool : public detail::remote_maps<process_pool> {
 public:
  process_pool() : process_pool(process_pool_options{}) {}
  explicit process_pool(std::size_t workers) : process_pool(options_with(workers)) {}
  explicit process_pool(process_pool_options options);
  ~process_pool();
  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;

  // Runs f(args...) in a worker process. Thread-safe; never blocks.
  // Throws weft::pool_closed after shutdown(), weft::pool_broken once broken.
  template <class F, class... Args>
  auto submit(F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>>;

  // submit() with per-task options. Past options.timeout, counted from the
  // moment a worker starts the task (time queued does not count, as in
  // pebble), the worker is killed (SIGKILL) and replaced, the future throws
  // weft::timeout, and the other tasks go on; a task queued behind it on
  // that worker goes back to the queue. The deadline is checked by the
  // dispatcher, so it is honoured within a few milliseconds.
  // Thread-safe; never blocks. Throws as submit().
  template <class F, class... Args>
  auto submit_with(task_options options, F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>>;

  // Stops accepting tasks, then runs (drain) or cancels (cancel_pending)
  // the tasks not yet sent to a worker, waits for the running ones and
  // stops every process. Idempotent.
  void shutdown(shutdown_mode mode = shutdown_mode::drain);

  // Python 3.14's terminate_workers() / kill_workers(): shuts the pool down
  // now. Tasks not yet started are cancelled (their futures read
  // cancelled), every worker gets SIGTERM / SIGKILL at once, and the tasks
  // they were running fail with weft::worker_lost (its signal()). Returns
  // once every process of the pool is gone; later submits throw
  // weft::pool_closed. Workers start with SIGTERM's default action, so a
  // SIGTERM handler of the program does not keep them alive. Blocks.
  void terminate_workers() { stop_workers_now(SIGTERM); }
  void kill_workers() { stop_workers_now(SIGKILL); }

  std::size_t size() const noexcept { return options_.workers; }
  // Tasks submitted and not yet finished (snapshot).
  // acquire: pairs with finish()'s acq_rel decrement.
  std::size_t pending() const noexcept { return unfinished_.load(std::memory_order_acquire); }

 private:
  friend class detail::remote_maps<process_pool>;  // map, imap, imap_unordered
  // A fast refusal once shutdown() began; enqueue() decides under mutex_.
  // acquire: pairs with shutdown()'s release store.
  void refuse_if_closed(const char* operation) const {
    if (closed_.load(std::memory_order_acquire))
      throw pool_closed(std::string("weft::process_pool: ") + operation + " after shutdown()");
  }
  using task = detail::remote_task;
  using clock = std::chrono::steady_clock;
  struct worker {
    pid_t pid = -1;
    int fd = -1;                 // stream socket; listed in pool_descriptors
    bool ready = false;          // its initializer returned; tasks go to ready workers only
    std::deque<task> running;    // sent, in order; replies come back in this order
    std::size_t tasks_sent = 0;  // a worker leaves by itself after max_tasks_per_child
    clock::time_point front_since{};  // when running.front() started (its deadline counts from here)
    std::uint64_t killed_for = 0;     // id of the task whose deadline got it killed; 0: none
    detail::frame_reader in;     // replies, reassembled
    detail::frame_writer out;    // tasks the socket could not take yet
  };
  // A worker whose socket closed, until the fork server reports its status.
  struct lost_worker {
    std::deque<task> tasks;  // the task it was running, if any
    bool in_initializer = false;
  };
  // Tasks in flight per worker: the next one already waits in the socket
  // when the current one finishes, so the worker never idles for a round trip.
  static constexpr std::size_t pipeline_depth = 2;
  // A worker that is given no more tasks: recycled after max_tasks_per_child,
  // or being killed for a deadline.
  bool retiring(const worker& w) const noexcept {
    return w.killed_for != 0 || (options_.max_tasks_per_child != 0 && w.tasks_sent >= options_.max_tasks_per_child);
  }
  // When the task a worker runs must end (submit_with), if it has a deadline.
  static std::optional<clock::time_point> deadline(const worker& w) {
    if (w.killed_for != 0 || w.running.empty() || w.running.front().timeout.count() == 0) return std::nullopt;
    return w.front_since + std::chrono::duration_cast<clock::duration>(w.running.front().timeout);
  }

  static process_pool_options options_with(std::size_t workers) {
    process_pool_options o;
    o.workers = workers;
    return o;
  }
  void enqueue(task t);
  void dispatcher_main();
  bool should_stop();
  void keep_full_strength();
  void build_poll_set(std::vector<pollfd>& fds) const;
  void on_zygote_readable();
  void on_zygote_message(const detail::zygote_message& m, int fd);
  void on_worker_dead(pid_t pid, int status);
  void on_worker_writable(std::size_t i);
  void on_worker_readable(std::size_t i);
  void on_worker_frame(worker& w, std::span<const std::byte> frame, bool& anomaly);
  void on_worker_closed(std::size_t i);
  void fail_lost_tasks(std::deque<task>& tasks, int status);
  void break_pool(const std::string& why);
  void fail_all(std::deque<task>& tasks, const std::exception_ptr& e);
  void finish(task& t) noexcept;
  bool assign_tasks();  // true if a task was sent
  bool feed(worker& w, std::size_t depth);
  void wake_dispatcher() noexcept;
  void release_in_copy() noexcept;
  void stop_worker(worker& w);
  void stop_workers_now(int sig);
  void signal_workers_if_asked();
  void enforce_deadlines(clock::time_point now);
  int poll_timeout_ms(clock::time_point now) const;

  process_pool_options options_;
  const pid_t owner_pid_;            // the process that built the pool
  detail::self_pipe wake_;           // submit()/shutdown() -> dispatcher
  detail::fork_server server_;
  std::thread dispatcher_;

  std::mutex mutex_;                 // guards queue_, closing_, cancel_, kill_signal_, broken_
  std::deque<task> queue_;           // submitted, not yet sent to a worker
  bool closing_ = false;
  bool cancel_ = false;
  int kill_signal_ = 0;              // terminate_workers()/kill_workers(): the signal for every worker
  std::string broken_;               // why the pool is broken; empty while it works
  std::atomic<bool> closed_{false};  // submit() refuses once set
  std::atomic<std::size_t> unfinished_{0};
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex shutdown_mutex_;
  bool joined_ = false;              // guarded by shutdown_mutex_

  // Dispatcher thread only:
  std::vector<worker> workers_;
  std::size_t spawning_ = 0;                // spawn requests not yet answered
  std::size_t spawn_failures_ = 0;          // consecutive 'E' answers
  std::chrono::steady_clock::time_point spawn_retry_at_{};  // no spawn request before, after an 'E'
  bool server_alive_ = true;                // its socket has not reached end of stream
  bool is_broken_ = false;                  // break_pool() ran
  bool workers_signalled_ = false;          // kill_signal_ was sent to every worker
  std::string break_request_;               // a break found while serving a worker, applied after
  std::map<pid_t, lost_worker> lost_;       // dead workers awaiting their status
  std::map<pid_t, int> early_status_;       // death reports that came before the end of stream
};

// ---- implementation ----

inline process_pool::process_pool(process_pool_options options)
    : options_(std::move(options)), owner_pid_(::getpid()) {
  if (options_.workers == 0) throw std::invalid_argument("weft::process_pool: needs at least one worker");
  auto& registry = detail::pool_descriptors::instance();
  registry.add(wake_.read_end());
  registry.add(wake_.write_end());
  try {
    server_.start(options_.initializer, options_.max_tasks_per_child);
    dispatcher_ = std::thread([this] { dispatcher_main(); });
  } catch (...) {
    server_.stop(true);  // also done by its destructor; explicit for the reader
    registry.forget(wake_.read_end());
    registry.forget(wake_.write_end());
    throw;
  }
}

inline process_pool::~process_pool() {
  if (::getpid() != owner_pid_) {
    release_in_copy();
    return;
  }
  shutdown(shutdown_mode::drain);
  auto& registry = detail::pool_descriptors::instance();
  registry.forget(wake_.read_end());
  registry.forget(wake_.write_end());
}

// A fork()ed copy of the program: the dispatcher thread does not exist
// here and the processes belong to the original. Close this copy's
// descriptors only: no shutdown(), no kill, no wait, no lock (another
// thread may have held one at the fork).
inline void process_pool::release_in_copy() noexcept {
  server_.abandon_in_copy();
  for (auto& w : workers_) ::close(w.fd);
  workers_.clear();
  if (dispatcher_.joinable()) dispatcher_.detach();
}

template <class F, class... Args>
auto process_pool::submit(F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>> {
  return submit_with(task_options{}, f, std::forward<Args>(args)...);
}

template <class F, class... Args>
auto process_pool::submit_with(task_options options, F f, Args&&... args)
    -> future<detail::remote_result_t<F, Args...>> {
  refuse_if_closed("submit");
  const auto limit = detail::task_timeout(options.timeout);  // may throw: before the task exists
  auto identity = [](std::uintptr_t address) { return static_cast<std::uint64_t>(address); };
  // relaxed: ids need only be unique.
  auto [t, result] = detail::make_remote_task(next_id_.fetch_add(1, std::memory_order_relaxed), identity, f,
                                              std::forward<Args>(args)...);
  t.timeout = limit;
  enqueue(std::move(t));
  return std::move(result);
}

inline void process_pool::enqueue(task t) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      t.discard();
      throw pool_closed("weft::process_pool: submit after shutdown()");
    }
    if (!broken_.empty()) {
      t.discard();
      throw pool_broken(broken_);
    }
    // A throwing push_back drops t, whose destructor cancels its future.
    queue_.push_back(std::move(t));
    // relaxed: under mutex_, which the dispatcher takes before it finishes
    // (fetch_sub) this task; pending() is a snapshot.
    unfinished_.fetch_add(1, std::memory_order_relaxed);
  }
  wake_dispatcher();
}

inline void process_pool::wake_dispatcher() noexcept { wake_.notify(); }

inline void process_pool::finish(task& t) noexcept {
  t.release();
  unfinished_.fetch_sub(1, std::memory_order_acq_rel);
}

inline void process_pool::fail_all(std::deque<task>& tasks, const std::exception_ptr& e) {
  for (task& t : tasks) {
    t.fail_with(e);
    finish(t);
  }
  tasks.clear();
}

inline void process_pool::fail_lost_tasks(std::deque<task>& tasks, int status) {
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  std::string what = sig != 0 ? "weft::process_pool: the worker running this task was killed by signal " +
                                    std::to_string(sig)
                              : "weft::process_pool: the worker running this task exited with status " +
                                    std::to_string(code);
  fail_all(tasks, std::make_exception_ptr(worker_lost(what, sig, code)));
}

// The pool can no longer run tasks: fail everything it holds with
// pool_broken(why), drop the workers (closing their sockets stops them),
// refuse later submits. Dispatcher thread only.
inline void process_pool::break_pool(const std::string& why) {
  if (is_broken_) return;
  is_broken_ = true;
  std::deque<task> queued;
  {
    std::lock_guard lock(mutex_);
    broken_ = why;
    queued.swap(queue_);
  }
  auto error = std::make_exception_ptr(pool_broken(why));
  fail_all(queued, error);
  for (auto& w : workers_) {
    fail_all(w.running, error);
    stop_worker(w);
  }
  workers_.clear();
  for (auto& [pid, lost] : lost_) fail_all(lost.tasks, error);
  lost_.clear();
  early_status_.clear();
}

// Asks a worker to leave with an empty frame, then closes its socket. The
// frame matters when a fork()ed copy of the program still holds the socket:
// the end of stream then never comes. A worker that is busy reads it after
// its task; if the socket is full, the fork server's kill (broken pool) or
// the end of stream has to do.
inline void process_pool::stop_worker(worker& w) {
  if (w.out.send(w.fd, {})) w.out.flush(w.fd);
  detail::pool_descriptors::instance().close(w.fd);
  w.fd = -1;
}

inline void process_pool::on_zygote_readable() {
  auto& registry = detail::pool_descriptors::instance();
  for (;;) {
    detail::zygote_message m{};
    int fd = -1;
    detail::receive_status got;
    {
      // A received socket is listed before any fork server can be forked.
      std::lock_guard lock(registry.mutex());
      got = detail::try_recv_with_fd(server_.fd(), &m, sizeof m, fd);
      if (fd >= 0) registry.add_locked(fd);
    }
    if (got == detail::receive_status::empty) return;
    if (got == detail::receive_status::message) {
      on_zygote_message(m, fd);
      continue;
    }
    if (fd >= 0) registry.close(fd);
    if (got == detail::receive_status::malformed) detail::report_anomaly("a malformed message from the fork server");
    server_alive_ = false;  // its answers and death reports end here
    spawning_ = 0;
    break_pool("weft::process_pool: the fork server died (killed from outside?); the pool cannot replace workers");
    return;
  }
}

inline void process_pool::on_zygote_message(const detail::zygote_message& m, int fd) {
  switch (m.kind) {
    case 'S':
      --spawning_;
      spawn_failures_ = 0;
      if (is_broken_ || fd < 0) {
        detail::pool_descriptors::instance().close(fd);  // its worker sees end of stream and leaves
      } else {
        worker w;
        w.pid = m.pid;
        w.fd = fd;
        workers_.push_back(std::move(w));
      }
      return;
    case 'E':
      --spawning_;
      spawn_retry_at_ = std::chrono::steady_clock::now() + detail::spawn_retry_delay;
      if (++spawn_failures_ >= detail::max_spawn_failures)
        break_pool("weft::process_pool: the fork server cannot start a worker: " +
                   std::system_category().message(m.status));
      return;
    case 'D':
      on_worker_dead(m.pid, m.status);
      return;
    default:
      detail::report_anomaly("an unknown message from the fork server");
  }
}

// The fork server reports a worker's wait status. Its socket's end of
// stream may come before (lost_) or after (early_status_).
inline void process_pool::on_worker_dead(pid_t pid, int status) {
  if (auto it = lost_.find(pid); it != lost_.end()) {
    lost_worker lost = std::move(it->second);
    lost_.erase(it);
    if (!lost.in_initializer) return fail_lost_tasks(lost.tasks, status);
    // The initializer's own error, when it sent one before exiting, says more.
    if (!break_request_.empty()) return break_pool(std::exchange(break_request_, {}));
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    return break_pool("weft::process_pool: a worker " + how + " while running the initializer");
  }
  bool listed = std::any_of(workers_.begin(), workers_.end(), [&](const worker& w) { return w.pid == pid; });
  if (listed) early_status_[pid] = status;
}

inline void process_pool::on_worker_closed(std::size_t i) {
  worker w = std::move(workers_[i]);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(i));
  detail::pool_descriptors::instance().close(w.fd);
  lost_worker lost;
  lost.in_initializer = !w.ready && !workers_signalled_;  // killed on purpose: no initializer failure
  if (!w.running.empty()) {
    // Only the oldest task was running; the ones behind it were still in
    // the socket, never started by the worker: they go back to the queue.
    std::lock_guard lock(mutex_);
    while (w.running.size() > 1) {
      queue_.push_front(std::move(w.running.back()));
      w.running.pop_back();
    }
    lost.tasks = std::move(w.running);
  }
  if (w.killed_for != 0 && !lost.tasks.empty() && lost.tasks.front().id == w.killed_for)
    fail_all(lost.tasks, std::make_exception_ptr(weft::timeout(
                             "weft::process_pool: the task ran past its timeout; its worker was killed")));
  if (lost.tasks.empty() && !lost.in_initializer) {
    early_status_.erase(w.pid);  // recycled (max_tasks_per_child) or stopped: nothing was lost
    return;
  }
  lost_.emplace(w.pid, std::move(lost));
  if (auto it = early_status_.find(w.pid); it != early_status_.end()) {
    int status = it->second;
    early_status_.erase(it);
    on_worker_dead(w.pid, status);
  }
}

inline void process_pool::on_worker_writable(std::size_t i) {
  worker& w = workers_[i];
  w.out.flush(w.fd);  // a gone peer shows as end of stream on the read side
}

inline void process_pool::on_worker_frame(worker& w, std::span<const std::byte> frame, bool& anomaly) {
  if (!w.ready) {
    try {
      reader in(frame);
      if (in.read<bool>()) {
        w.ready = true;
      } else {
        break_request_ = "weft::process_pool: the initializer failed in a worker: " + in.read<std::string>();
      }
    } catch (const protocol_error&) {
      detail::report_anomaly("a malformed first message from a worker");
      anomaly = true;
    }
    return;
  }
  if (w.running.empty()) {
    detail::report_anomaly("a reply from a worker that runs no task");
    anomaly = true;
    return;
  }
  task t = std::move(w.running.front());
  w.running.pop_front();
  w.front_since = clock::now();  // the worker reads the next task as soon as it replied
  t.complete_from(frame);
  finish(t);
}

inline void process_pool::on_worker_readable(std::size_t i) {
  worker& w = workers_[i];
  bool anomaly = false;
  auto status = w.in.read(w.fd, [&](std::span<const std::byte> frame) {
    if (!anomaly) on_worker_frame(w, frame, anomaly);
  });
  if (status == detail::frame_reader::status::corrupt) detail::report_anomaly("an oversized frame from a worker");
  // A worker that broke the protocol is dropped: closing its socket makes it
  // leave, and its task fails with worker_lost once its status arrives.
  if (status != detail::frame_reader::status::open || anomaly) on_worker_closed(i);
}

// Sends queued tasks to w until it holds `depth`; true if one was sent.
// Under mutex_.
inline bool process_pool::feed(worker& w, std::size_t depth) {
  bool sent_any = false;
  while (w.ready && !queue_.empty() && w.running.size() < depth && !retiring(w)) {
    task t = std::move(queue_.front());
    queue_.pop_front();
    // Cancelled by its future (start fails), or by shutdown(cancel_pending).
    if (!t.started && (cancel_ || !t.try_start())) {
      t.cancel_unstarted();
      finish(t);
      continue;
    }
    bool sent = w.out.send(w.fd, t.payload);
    sent_any = true;
    if (w.running.empty()) w.front_since = clock::now();
    // Sent or not, the task was started and the worker holds it: if the
    // worker is gone (its end of stream follows), it fails with worker_lost.
    w.running.push_back(std::move(t));
    ++w.tasks_sent;
    if (!sent) break;
  }
  return sent_any;
}

// Every idle worker gets a task before any gets a second one (pipelined
// behind the first), and pipelining waits until every worker is up: a task
// waits behind another only while no worker could take it.
inline bool process_pool::assign_tasks() {
  bool sent_any = false;
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) sent_any |= feed(w, 1);
  const bool all_up = spawning_ == 0 && std::all_of(workers_.begin(), workers_.end(), [this](const worker& w) {
                        return w.ready && !retiring(w);
                      });
  if (all_up)
    for (auto& w : workers_) sent_any |= feed(w, pipeline_depth);
  if (cancel_) {  // nothing may start any more
    while (!queue_.empty()) {
      task t = std::move(queue_.front());
      queue_.pop_front();
      t.cancel_unstarted();  // fails with weft::cancelled one re-queued after its worker died
      finish(t);
    }
  }
  return sent_any;
}

// True once shutdown() began and nothing is left: no queued or running task,
// no dead worker awaiting its status, no spawn request unanswered (an answer
// carries a worker's socket that must be received, or that worker waits).
inline bool process_pool::should_stop() {
  {
    std::lock_guard lock(mutex_);
    if (!closing_ || !queue_.empty()) return false;
  }
  bool busy = std::any_of(workers_.begin(), workers_.end(), [](const worker& w) { return !w.running.empty(); });
  return !busy && lost_.empty() && spawning_ == 0;
}

// Keeps the pool at full strength (replacing dead and recycled workers),
// unless it is broken or shutting down with nothing left to send (a drain
// still needs workers, the first ones included: the pool may be shut down
// before the dispatcher's first turn).
inline void process_pool::keep_full_strength() {
  if (is_broken_ || !server_alive_) return;
  if (spawn_failures_ != 0 && std::chrono::steady_clock::now() < spawn_retry_at_) return;  // poll's timeout retries
  {
    std::lock_guard lock(mutex_);
    if (closing_ && (queue_.empty() || cancel_)) return;  // cancel_: what is queued will not run
  }
  auto serving = static_cast<std::size_t>(
      std::count_if(workers_.begin(), workers_.end(), [this](const worker& w) { return !retiring(w); }));
  // A worker that died in the initializer is not replaced while its status
  // is awaited: that status breaks the pool.
  serving += static_cast<std::size_t>(
      std::count_if(lost_.begin(), lost_.end(), [](const auto& lost) { return lost.second.in_initializer; }));
  while (serving + spawning_ < options_.workers && server_.request('S')) ++spawning_;
}

inline void process_pool::build_poll_set(std::vector<pollfd>& fds) const {
  fds.assign({{wake_.read_end(), POLLIN, 0}, {server_alive_ ? server_.fd() : -1, POLLIN, 0}});  // -1: ignored
  for (auto& w : workers_)
    fds.push_back({w.fd, static_cast<short>(POLLIN | (w.out.empty() ? 0 : POLLOUT)), 0});
}

inline void process_pool::dispatcher_main() {
  detail::activity_window window(detail::message_window);
  std::vector<pollfd> fds;  // keeps its capacity while spinning
  for (;;) {
    if (should_stop()) break;
    keep_full_strength();
    signal_workers_if_asked();
    const auto now = clock::now();
    enforce_deadlines(now);
    build_poll_set(fds);
    const bool spinning = window.open();  // a reply is probably on its way: poll, do not sleep
    int ready = ::poll(fds.data(), fds.size(), spinning ? 0 : poll_timeout_ms(now));
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      window.mark();
    } else if (spinning) {
      std::this_thread::yield();
      continue;
    }
    if (fds[0].revents & POLLIN) wake_.drain();
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) on_zygote_readable();
    // Walk backwards: on_worker_closed erases from workers_. Indexes stay
    // valid unless break_pool() cleared workers_.
    for (std::size_t i = fds.size() - 1; i >= 2 && !is_broken_; --i) {
      if (fds[i].revents & POLLOUT) on_worker_writable(i - 2);
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_worker_readable(i - 2);
    }
    if (!break_request_.empty()) break_pool(std::exchange(break_request_, {}));
    if (assign_tasks()) window.mark();
  }
  // Stop the workers; shutdown() then stops the fork server.
  for (auto& w : workers_) stop_worker(w);
  workers_.clear();
}

// submit_with's deadlines: a worker whose task ran past its timeout is
// killed by the fork server; on_worker_closed then fails that task with
// weft::timeout. A refused request is retried on the next turn.
inline void process_pool::enforce_deadlines(clock::time_point now) {
  for (auto& w : workers_) {
    auto due = deadline(w);
    if (due && now >= *due && server_.request('K', w.pid, SIGKILL)) w.killed_for = w.running.front().id;
  }
}

// The dispatcher sleeps in poll() until the nearest deadline at the latest.
inline int process_pool::poll_timeout_ms(clock::time_point now) const {
  auto wait = std::chrono::milliseconds(detail::dispatcher_poll_ms);
  for (const auto& w : workers_)
    if (auto due = deadline(w))
      wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*due - now), std::chrono::milliseconds(0), wait);
  return static_cast<int>(wait.count());
}

// terminate_workers()/kill_workers(): the fork server signals every worker
// it has not reaped, once. Their sockets then close: the running tasks fail
// with worker_lost when the death reports come, the ones behind them go
// back to the queue, where cancel_ cancels them.
inline void process_pool::signal_workers_if_asked() {
  if (workers_signalled_ || !server_alive_) return;
  int sig;
  {
    std::lock_guard lock(mutex_);
    sig = kill_signal_;
  }
  if (sig != 0 && server_.request('K', 0, sig)) workers_signalled_ = true;
}

inline void process_pool::stop_workers_now(int sig) {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    cancel_ = true;
    if (kill_signal_ == 0) kill_signal_ = sig;
  }
  closed_.store(true, std::memory_order_release);  // release: pairs with submit()'s acquire load
  wake_dispatcher();  // acts now, even while another thread's shutdown() waits
  shutdown(shutdown_mode::cancel_pending);
}

inline void process_pool::shutdown(shutdown_mode mode) {
  std::lock_guard guard(shutdown_mutex_);
  if (joined_) return;
  closed_.store(true, std::memory_order_release);  // release: pairs with submit()'s acquire load
  bool broken;
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    if (mode != shutdown_mode::drain) cancel_ = true;
  }
  wake_dispatcher();
  if (dispatcher_.joinable()) dispatcher_.join();
  {
    std::lock_guard lock(mutex_);
    broken = !broken_.empty();
  }
  server_.stop(broken);  // broken: workers may still run tasks nobody waits for
  joined_ = true;
}

}  // namespace weft
