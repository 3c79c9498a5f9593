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
#include <weft/thread_pool.hpp>  // default_workers, workload, shutdown_mode

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
#include <ranges>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
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

// The worker process: run the initializer, then serve tasks until told to
// stop, the pool goes away, or max_tasks tasks were run. Never returns.
[[noreturn]] inline void worker_main(int fd, void (*initializer)(), std::size_t max_tasks) {
  if (initializer != nullptr) initializer();
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

// The fork server: a single-threaded process forked when the pool is built;
// every worker is forked from it, never from the (multithreaded) parent.
// Requests: one byte 'S' (spawn a worker). Replies: {kind, pid, status}, with
// the new worker's socket attached for 'S'; 'D' reports a worker's death.
struct zygote_message {
  char kind;  // 'S' spawned (fd attached), 'D' died
  int pid;
  int status;  // waitpid status for 'D'
};

[[noreturn]] inline void zygote_main(int control, void (*initializer)(), std::size_t max_tasks) {
#if defined(__linux__)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the pool's process
#endif
  std::size_t children = 0;
  bool parent_open = true;
  while (parent_open || children > 0) {
    pollfd p{control, POLLIN, 0};
    int ready = ::poll(&p, parent_open ? 1 : 0, 20);
    if (ready > 0 && (p.revents & (POLLIN | POLLHUP))) {
      char request = 0;
      ssize_t k = ::recv(control, &request, 1, 0);
      if (k <= 0 || request != 'S') {
        parent_open = false;  // the pool shut down (or died): wait for the workers to leave
      } else {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
          std::fflush(nullptr);
          pid_t pid = ::fork();
          if (pid == 0) {
            ::close(control);
            ::close(pair[0]);
#if defined(__linux__)
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
            worker_main(pair[1], initializer, max_tasks);
          }
          ::close(pair[1]);
          zygote_message m{'S', pid > 0 ? pid : -1, 0};
          send_with_fd(control, &m, sizeof m, pair[0]);
          ::close(pair[0]);
          if (pid > 0) ++children;
        }
      }
    }
    int status = 0;
    pid_t dead;
    while (children > 0 && (dead = ::waitpid(-1, &status, WNOHANG)) > 0) {  // our own children only
      --children;
      zygote_message m{'D', dead, status};
      if (parent_open) ::send(control, &m, sizeof m, MSG_NOSIGNAL);
    }
  }
  ::_exit(0);
}

}  // namespace detail

// Worker processes that run functions and return weft::future (like
// ProcessPoolExecutor / multiprocessing.Pool).
//
// Processes: a fork server is forked when the pool is constructed (before
//   the pool starts its dispatcher thread); every worker, including
//   replacements, is forked from it, never from the multithreaded parent.
//   Workers and the fork server die with the parent (PR_SET_PDEATHSIG on
//   Linux; end of stream on their socket elsewhere) and leave with _exit.
//   Only the pool's own processes are reaped: no SIGCHLD handler, no
//   waitpid(-1) in the parent.
// What can be submitted: f is a function pointer or a trivially copyable
//   callable (e.g. a lambda capturing ints by value); it runs in a fork of
//   this binary, so code addresses are valid. Arguments and the result must
//   be serializable (weft::serializer). Anything else does not compile.
// Thread-safety: every member may be called from any thread, except the
//   destructor. Blocking: submit() never blocks; map() and shutdown() do.
// Exceptions: submit()/map() throw weft::pool_closed after shutdown(). A
//   task's exception arrives as weft::remote_error (what() and type_name() of
//   the original); a task whose worker died (signal, exit(), abort, OOM kill)
//   fails with weft::worker_lost, the worker is replaced and the other tasks
//   go on. std::system_error if the fork server cannot start.
// Ordering: map() keeps input order; tasks start in submission order.
// Cost: per task one frame each way over a socketpair (two system calls per
//   side); map() sends chunks of `chunksize` items as one task. After each
//   message the worker and the dispatcher poll for 200 us, yielding the
//   core, before they block: back-to-back tasks cost no process wake-up.
// Lifetime: the destructor drains (runs every submitted task), then stops
//   and reaps the workers and the fork server.
class process_pool {
 public:
  process_pool() : process_pool(process_pool_options{}) {}
  explicit process_pool(std::size_t workers) : process_pool(options_with(workers)) {}
  explicit process_pool(process_pool_options options);
  ~process_pool();
  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;

  template <class F, class... Args>
  auto submit(F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>>;

  // Applies f to every element in worker processes, `chunksize` elements
  // per message (0: about four chunks per worker); results in input order.
  // Rethrows the first failure (input order) after every chunk finished.
  template <class F, std::ranges::forward_range Range>
  auto map(F f, const Range& items, std::size_t chunksize = 0) -> detail::remote_map_result_t<F, Range>;

  // Stops accepting tasks, then runs (drain) or cancels (cancel_pending)
  // the tasks not yet sent to a worker, waits for the running ones and
  // reaps every process. Idempotent.
  void shutdown(shutdown_mode mode = shutdown_mode::drain);

  std::size_t size() const noexcept { return options_.workers; }
  // Tasks submitted and not yet finished (snapshot).
  // acquire: pairs with finish()'s acq_rel decrement.
  std::size_t pending() const noexcept { return unfinished_.load(std::memory_order_acquire); }

 private:
  using task = detail::remote_task;
  struct worker {
    pid_t pid = -1;
    int fd = -1;
    std::deque<task> running;    // sent, in order; replies come back in this order
    std::size_t tasks_sent = 0;  // a worker leaves by itself after max_tasks_per_child
  };
  // Tasks in flight per worker: the next one already waits in the socket
  // when the current one finishes, so the worker never idles for a round trip.
  static constexpr std::size_t pipeline_depth = 2;
  bool retiring(const worker& w) const noexcept {
    return options_.max_tasks_per_child != 0 && w.tasks_sent >= options_.max_tasks_per_child;
  }

  static process_pool_options options_with(std::size_t workers) {
    process_pool_options o;
    o.workers = workers;
    return o;
  }
  void enqueue(task t);
  void dispatcher_main();
  void request_spawn();
  void on_zygote_message();
  void on_worker_readable(std::size_t i);
  void on_worker_lost(std::size_t i);
  void fail_lost_tasks(std::deque<task>& tasks, int status);
  void finish(task& t) noexcept;
  bool assign_tasks();  // true if a task was sent
  void wake_dispatcher() noexcept;

  process_pool_options options_;
  pid_t zygote_pid_ = -1;
  int zygote_fd_ = -1;    // SOCK_SEQPACKET to the fork server
  detail::self_pipe wake_;  // submit()/shutdown() -> dispatcher
  std::thread dispatcher_;

  std::mutex mutex_;                 // guards queue_, closing_, cancel_
  std::deque<task> queue_;           // submitted, not yet sent to a worker
  bool closing_ = false;
  bool cancel_ = false;
  std::atomic<bool> closed_{false};  // submit() refuses once set
  std::atomic<std::size_t> unfinished_{0};
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex shutdown_mutex_;
  bool joined_ = false;              // guarded by shutdown_mutex_

  // Dispatcher thread only:
  std::vector<worker> workers_;
  std::size_t spawning_ = 0;                          // spawn requests not yet answered
  std::map<pid_t, std::deque<task>> lost_tasks_;      // a dead worker's tasks, awaiting its status
  std::map<pid_t, int> early_status_;                 // death reports that came before the EOF
};

// ---- implementation ----

inline process_pool::process_pool(process_pool_options options) : options_(std::move(options)) {
  if (options_.workers == 0) throw std::invalid_argument("weft::process_pool: needs at least one worker");
  int control[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0)
    detail::throw_errno(errno, "weft::process_pool: socketpair");
  std::fflush(nullptr);  // no buffered output is written twice
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno(errno, "weft::process_pool: fork of the fork server");
  if (pid == 0) {
    ::close(control[0]);
    wake_.close_in_child();
    detail::zygote_main(control[1], options_.initializer, options_.max_tasks_per_child);
  }
  ::close(control[1]);
  zygote_pid_ = pid;
  zygote_fd_ = control[0];
  for (std::size_t i = 0; i < options_.workers; ++i) request_spawn();
  dispatcher_ = std::thread([this] { dispatcher_main(); });
}

inline process_pool::~process_pool() { shutdown(shutdown_mode::drain); }

template <class F, class... Args>
auto process_pool::submit(F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>> {
  // acquire: pairs with shutdown()'s release store; a fast refusal only,
  // enqueue() decides under mutex_.
  if (closed_.load(std::memory_order_acquire)) throw pool_closed("weft::process_pool: submit after shutdown()");
  auto identity = [](std::uintptr_t address) { return static_cast<std::uint64_t>(address); };
  // relaxed: ids need only be unique.
  auto [t, result] = detail::make_remote_task(next_id_.fetch_add(1, std::memory_order_relaxed), identity, f,
                                              std::forward<Args>(args)...);
  enqueue(std::move(t));
  return std::move(result);
}

template <class F, std::ranges::forward_range Range>
auto process_pool::map(F f, const Range& items, std::size_t chunksize) -> detail::remote_map_result_t<F, Range> {
  return detail::remote_map(*this, f, items, chunksize);
}

inline void process_pool::enqueue(task t) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      t.discard();
      throw pool_closed("weft::process_pool: submit after shutdown()");
    }
    // relaxed: under mutex_, which the dispatcher takes before it finishes
    // (fetch_sub) this task; pending() is a snapshot.
    unfinished_.fetch_add(1, std::memory_order_relaxed);
    queue_.push_back(std::move(t));
  }
  wake_dispatcher();
}

inline void process_pool::wake_dispatcher() noexcept {
  wake_.notify();
}

inline void process_pool::request_spawn() {
  char request = 'S';
  if (::send(zygote_fd_, &request, 1, MSG_NOSIGNAL) == 1) ++spawning_;
}

inline void process_pool::finish(task& t) noexcept {
  t.release();
  unfinished_.fetch_sub(1, std::memory_order_acq_rel);
}

inline void process_pool::fail_lost_tasks(std::deque<task>& tasks, int status) {
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  std::string what = sig != 0 ? "weft::process_pool: the worker running this task was killed by signal " +
                                    std::to_string(sig)
                              : "weft::process_pool: the worker running this task exited with status " +
                                    std::to_string(code);
  for (task& t : tasks) {
    t.fail_with(std::make_exception_ptr(worker_lost(what, sig, code)));
    finish(t);
  }
  tasks.clear();
}

inline void process_pool::on_zygote_message() {
  detail::zygote_message m{};
  int fd = -1;
  if (!detail::recv_with_fd(zygote_fd_, &m, sizeof m, fd)) return;
  if (m.kind == 'S') {
    --spawning_;
    if (m.pid > 0 && fd >= 0) {
      workers_.push_back(worker{m.pid, fd, {}, 0});
    } else if (fd >= 0) {
      ::close(fd);  // the fork failed: no worker behind this socket
    }
    return;
  }
  // 'D': a worker died. Its socket's end of stream may come before or after.
  if (auto it = lost_tasks_.find(m.pid); it != lost_tasks_.end()) {
    fail_lost_tasks(it->second, m.status);
    lost_tasks_.erase(it);
  } else {
    bool still_listed = std::any_of(workers_.begin(), workers_.end(), [&](const worker& w) { return w.pid == m.pid; });
    if (still_listed) early_status_[m.pid] = m.status;
  }
}

inline void process_pool::on_worker_lost(std::size_t i) {
  worker w = std::move(workers_[i]);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(i));
  ::close(w.fd);
  if (!w.running.empty()) {
    // Only the oldest task was running; the ones behind it were still in
    // the socket, never started by the worker: they go back to the queue.
    {
      std::lock_guard lock(mutex_);
      while (w.running.size() > 1) {
        queue_.push_front(std::move(w.running.back()));
        w.running.pop_back();
      }
    }
    if (auto it = early_status_.find(w.pid); it != early_status_.end()) {
      fail_lost_tasks(w.running, it->second);
      early_status_.erase(it);
    } else {
      lost_tasks_.emplace(w.pid, std::move(w.running));  // failed when the fork server reports the status
    }
  } else {
    early_status_.erase(w.pid);  // recycled (max_tasks_per_child) or stopped: nothing was lost
  }
}

inline void process_pool::on_worker_readable(std::size_t i) {
  auto frame = detail::recv_frame(workers_[i].fd);
  if (!frame) {
    on_worker_lost(i);
    return;
  }
  worker& w = workers_[i];
  if (w.running.empty()) return;  // not expected; ignore
  task t = std::move(w.running.front());
  w.running.pop_front();
  t.complete_from(*frame);
  finish(t);
}

inline bool process_pool::assign_tasks() {
  bool sent_any = false;
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) {
    while (!queue_.empty() && w.running.size() < pipeline_depth && !retiring(w)) {
      task t = std::move(queue_.front());
      queue_.pop_front();
      // Cancelled by its future (start fails), or by shutdown(cancel_pending).
      if (!t.started && (cancel_ || !t.try_start())) {
        t.cancel_unstarted();
        finish(t);
        continue;
      }
      bool sent = detail::send_frame(w.fd, t.payload);
      sent_any = true;
      // Sent or not, the task was started and the worker holds it: if the
      // worker is gone (its end of stream follows), it fails with worker_lost.
      w.running.push_back(std::move(t));
      ++w.tasks_sent;
      if (!sent) break;
    }
  }
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

inline void process_pool::dispatcher_main() {
  detail::activity_window window(detail::message_window);
  std::vector<pollfd> fds;
  for (;;) {
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      stopping = closing_ && queue_.empty();
    }
    bool busy = std::any_of(workers_.begin(), workers_.end(), [](const worker& w) { return !w.running.empty(); });
    // Wait for answers to spawn requests too: an unanswered one carries a
    // worker's socket that we must receive and close, or that worker waits forever.
    if (stopping && !busy && lost_tasks_.empty() && spawning_ == 0) break;
    // Keep the pool at full strength (replacing dead and recycled workers).
    std::size_t serving = static_cast<std::size_t>(
        std::count_if(workers_.begin(), workers_.end(), [this](const worker& w) { return !retiring(w); }));
    if (!stopping)
      while (serving + spawning_ < options_.workers) {
        std::size_t before = spawning_;
        request_spawn();
        if (spawning_ == before) break;  // the fork server is gone
      }
    fds.assign({{wake_.read_end(), POLLIN, 0}, {zygote_fd_, POLLIN, 0}});  // keeps its capacity while spinning
    for (auto& w : workers_) fds.push_back({w.fd, POLLIN, 0});
    const bool spinning = window.open();  // a reply is probably on its way: poll, do not sleep
    int ready = ::poll(fds.data(), fds.size(), spinning ? 0 : 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      window.mark();
    } else if (spinning) {
      std::this_thread::yield();
      continue;
    }
    if (fds[0].revents & POLLIN) wake_.drain();
    if (fds[1].revents & (POLLIN | POLLHUP)) on_zygote_message();
    // Walk backwards: on_worker_lost erases from workers_.
    for (std::size_t i = fds.size() - 1; i >= 2; --i)
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_worker_readable(i - 2);
    if (assign_tasks()) window.mark();
  }
  // Stop the workers (end of stream), then the fork server, and reap it.
  for (auto& w : workers_) ::close(w.fd);
  workers_.clear();
}

inline void process_pool::shutdown(shutdown_mode mode) {
  std::lock_guard guard(shutdown_mutex_);
  if (joined_) return;
  closed_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    if (mode == shutdown_mode::cancel_pending) cancel_ = true;
  }
  wake_dispatcher();
  if (dispatcher_.joinable()) dispatcher_.join();
  ::shutdown(zygote_fd_, SHUT_RDWR);  // the fork server waits for its workers, then exits
  int status = 0;
  while (::waitpid(zygote_pid_, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(zygote_fd_);
  joined_ = true;
}

}  // namespace weft
