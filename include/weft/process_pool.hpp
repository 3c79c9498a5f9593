// weft — MIT licence. See LICENSE.
//
// <weft/process_pool.hpp> — a pool of worker processes returning
// weft::future: the C++ counterpart of multiprocessing.Pool and
// concurrent.futures.ProcessPoolExecutor. POSIX only.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#if !defined(__unix__) && !defined(__APPLE__)
#error "<weft/process_pool.hpp> needs POSIX processes (Linux, macOS); it is not available on this platform"
#endif

#include <weft/detail/fork_server.hpp>
#include <weft/detail/ipc.hpp>
#include <weft/detail/remote_pool_core.hpp>
#include <weft/detail/remote_task.hpp>
#include <weft/detail/shm_ring.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/serialize.hpp>
#include <weft/pool_options.hpp>  // default_workers, workload, shutdown_mode

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace weft {

struct process_pool_options {
  std::size_t workers = default_workers(workload::cpu);
  // Runs once in each worker process after it starts (like Python's
  // initializer=), e.g. to open a per-process resource.
  void (*initializer)() = nullptr;
  // Replace a worker after it ran this many tasks (0: never). The
  // replacement starts once the old worker's last task is done, so no more
  // than `workers` tasks ever run at once.
  std::size_t max_tasks_per_child = 0;
};

// Worker processes that run functions and return weft::future (like
// ProcessPoolExecutor / multiprocessing.Pool).
//
// Processes: the constructor flushes std::cout/std::clog and stdio, then
//   forks a fork server (through a middle process that exits at once, so
//   the pool's processes are not the program's children: the program's
//   wait() loops and SIGCHLD settings never see them, unless the program is
//   a subreaper or PID 1, which adopts the fork server; the pool reaps it).
//   No weft lock is held across that fork, and the signal mask and
//   dispositions pass on unchanged. Every worker, including replacements,
//   is forked from the fork server, which is single-threaded. Workers are
//   therefore copies of the program as it was when the pool was
//   constructed: build pools before starting threads (like Python's fork
//   start method), or at least while no other thread holds a lock that
//   tasks or the initializer take. The fork server and the workers hold no
//   descriptor of the program's but 0, 1 and 2. They die with the program:
//   the fork server sees end of stream on its socket and kills the workers
//   (workers also die with the fork server: PR_SET_PDEATHSIG on Linux, end
//   of stream elsewhere). A worker is alive until the fork server reports
//   its exit, whatever becomes of its socket (a helper the task forked may
//   hold it; a task that closes its descriptors or execs closes it).
//   Workers flush std::cout/std::clog and stdio after every task.
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
//   it. A start failure is any failed fork or socket, in the fork server
//   or here (out of descriptors or processes). Every call but the
//   destructor throws weft::pool_broken in a fork()ed copy of the program
//   (after daemon(), in a worker): the pool belongs to the process that
//   built it (a task may build a pool of its own). A reply bigger than
//   this process can allocate fails its task with std::bad_alloc.
//   std::system_error if the fork server cannot start.
//   Done callbacks run on the pool's dispatcher thread: shutdown(),
//   terminate_workers() and kill_workers() called there throw
//   std::logic_error (they would wait for that thread), and a callback must
//   not wait for another future of the same pool (nothing would complete it).
// Maps: map(), imap() and imap_unordered() (Python's Pool.map, imap,
//   imap_unordered) are inherited from detail::remote_maps (through
//   detail::remote_pool_core, the client side both remote pools share), one
//   definition for both; their contracts are written there.
// Ordering: map() keeps input order; tasks start in submission order.
//   The dispatcher hands each worker its next task before the current one
//   ends while the worker's tasks are short (remote_pool_core's
//   pipeline_task: 2 in flight per worker; while 8 tasks per worker wait,
//   up to 8 frames of at most 4 KiB each for a worker whose last task took
//   under 100 us), never when either task is over 16 KiB. A task handed
//   out is started for future::cancel(), which then returns false, as for
//   a running one (shutdown(cancel_pending) takes such tasks back: see
//   shutdown()). Behind a long task (or a fresh worker's first) the next
//   one waits in the pool, cancellable.
// Cost: a task and its reply of up to 16 KiB each are copied through a
//   shared-memory ring per worker (detail/shm_ring.hpp): no system call
//   while both sides are awake; bigger ones travel over the worker's
//   socketpair (a system call per side when the socket has room). map()
//   sends chunks of `chunksize` items as one task. After each message the
//   worker and the dispatcher spin for 200 us, yielding the core now and
//   then, before they sleep (a yield that lost the core for over 1 ms
//   means more runnable threads than cores: they then sleep at once for
//   the next 50 ms); waking a sleeping side costs it one system call.
//   Memory: 128 KiB of shared mapping per worker slot (2 x workers + 2
//   slots), touched as used.
// Lifetime: the destructor calls shutdown(drain), which runs every
//   submitted task, stops the workers and waits for the fork server to
//   exit. In a fork()ed copy of the program (another pid than the pool's
//   creator) the destructor only closes the copy's descriptors and never
//   touches the pool's processes.
class process_pool : public detail::remote_pool_core<process_pool> {
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
  // weft::timeout, and the other tasks go on. No task is sent to a worker
  // behind a task with a deadline, so the kill can only hit that task. The deadline is checked by the
  // dispatcher, so it is honoured within a few milliseconds; a reply that
  // has begun to arrive is in time, and what the worker sent is read
  // before any kill, so a deadline kills only its own task.
  // Thread-safe; never blocks. Throws as submit().
  template <class F, class... Args>
  auto submit_with(task_options options, F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>>;

  // Stops accepting tasks, then runs (drain) or cancels (cancel_pending,
  // cancel_all) the tasks not yet sent to a worker and those a worker was
  // handed but has not taken from its ring, waits for the running ones, stops
  // the workers, then stops the fork server and waits for it to exit.
  // Idempotent; a concurrent call returns once the first finished.
  void shutdown(shutdown_mode mode = shutdown_mode::drain);

  // Python 3.14's terminate_workers() / kill_workers(): shuts the pool down
  // now. Tasks not yet started are cancelled (their futures read
  // cancelled), every worker gets SIGTERM / SIGKILL at once, and the tasks
  // they were running fail with weft::worker_lost (its signal()). Returns
  // once every process of the pool is gone; later submits throw
  // weft::pool_closed. Workers start with SIGTERM's default action, so a
  // SIGTERM handler of the program does not keep them alive; a worker that
  // still lives terminate_grace after SIGTERM (its task blocks or ignores
  // SIGTERM, or the program blocked it) gets SIGKILL. Blocks.
  void terminate_workers() { stop_workers_now(SIGTERM); }
  void kill_workers() { stop_workers_now(SIGKILL); }

  std::size_t size() const noexcept { return options_.workers; }
  // Tasks submitted and not yet started by a worker (snapshot), as
  // thread_pool::pending(): queued in the pool, or sent to a worker and
  // waiting behind the task it runs. Cancelled ones count until the
  // dispatcher discards them. Thread-safe; O(1).
  std::size_t pending() const noexcept { return waiting(); }

 private:
  friend class detail::remote_maps<process_pool>;       // map, imap, imap_unordered
  friend class detail::remote_pool_core<process_pool>;  // the transport hooks below
  using clock = std::chrono::steady_clock;
  // The dispatcher's longest sleep in poll(). Every event it serves (a reply,
  // a death report, submit()'s wake byte, a writable worker) wakes it earlier;
  // the timeout only bounds how late a spawn request the fork server's socket
  // refused (EAGAIN) is retried.
  static constexpr int dispatcher_poll_ms = 100;
  // A reply in progress past its task's deadline holds the kill back while
  // its bytes keep coming; once none came for this long, the kill proceeds.
  static constexpr auto stalled_reply = std::chrono::seconds(5);
  // Consecutive failed spawns (EMFILE, EAGAIN in the fork server) after which
  // the pool reports itself broken instead of retrying forever, and the pause
  // before a retry (the condition may pass; meanwhile the death report of the
  // worker being replaced arrives, so its task fails with worker_lost).
  static constexpr std::size_t max_spawn_failures = 3;
  // terminate_workers(): how long a worker may outlive its SIGTERM before
  // it gets SIGKILL (Python 3.14 does not wait for it at all).
  static constexpr auto terminate_grace = std::chrono::seconds(1);
  static constexpr auto spawn_retry_delay = std::chrono::milliseconds(dispatcher_poll_ms);

  struct worker : detail::remote_peer {  // running, front_since: see remote_peer
    pid_t pid = -1;              // alive (and signalled through the fork server) until its 'D' report
    int fd = -1;                 // stream socket; listed in pool_descriptors; -1 once at end of stream
    bool ready = false;          // its initializer returned; tasks go to ready workers only
    std::size_t tasks_sent = 0;  // a worker leaves by itself after max_tasks_per_child
    std::uint64_t killed_for = 0;  // id of the task whose deadline got it killed; 0: none
    // Past its deadline with a reply in progress: in.received() when last
    // seen moving, and when. A reply that stops moving for stalled_reply
    // (bytes that are no reply, a worker stopped mid-write) no longer
    // holds the deadline back.
    std::uint64_t reply_bytes = 0;
    clock::time_point reply_moved{};
    detail::frame_reader in;     // replies, reassembled
    detail::frame_writer out;    // tasks the socket could not take yet (may lend from running: see send_task)
    // Its shared-memory channel (detail/shm_ring.hpp): small tasks and
    // replies travel there, the rest on the socket.
    std::size_t slot = 0;                       // in channels_; freed at its death report
    detail::worker_channel* channel = nullptr;
    std::vector<std::byte> ring_reply;          // a reply taken from the ring, held while ring_held
    bool ring_held = false;                     // ring_reply waits for the front's reply, still on the socket
    bool ring_broken = false;                   // a malformed record: the ring is not read again
    bool ring_full = false;                     // a task found no room (never in a correct run): the worker is closed
  };
  using peer = worker;
  // A worker that is given no more tasks: recycled after max_tasks_per_child,
  // or being killed for a deadline.
  bool retiring(const worker& w, std::size_t planned = 0) const noexcept {
    return w.killed_for != 0 ||
           (options_.max_tasks_per_child != 0 && w.tasks_sent + planned >= options_.max_tasks_per_child);
  }
  // When the task a worker runs must end (submit_with), unless it is being
  // killed for it already.
  static std::optional<clock::time_point> deadline(const worker& w) {
    return w.killed_for != 0 ? std::nullopt : remote_pool_core::deadline(w);
  }

  // Transport hooks (remote_pool_core).
  bool accepts_tasks(const worker& w, std::size_t planned) const noexcept {
    return w.ready && w.fd >= 0 && !w.ring_full && !retiring(w, planned);
  }
  bool send_task(worker& w, task& t);
  void wake_dispatcher() noexcept { wake_.ring(); }
  // Only ring records can be taken back (take_back_unstarted): a frame on
  // the socket cannot, and its bytes are lent from the task.
  static constexpr std::size_t held_payload_max = detail::shm_ring::inline_max;

  static process_pool_options options_with(std::size_t workers) {
    process_pool_options o;
    o.workers = workers;
    return o;
  }
  void dispatcher_main();
  bool should_stop();
  void keep_full_strength();
  void build_poll_set(std::vector<pollfd>& fds) const;
  void on_zygote_readable();
  void on_zygote_message(const detail::zygote_message& m, int fd);
  void on_spawn_failed(int err);
  void on_worker_dead(pid_t pid, int status);
  void on_worker_writable(std::size_t i);
  void on_worker_readable(std::size_t i);
  void on_worker_frame(worker& w, std::span<const std::byte> frame, bool& anomaly);
  void on_worker_closed(worker& w);
  void take_back_unstarted(worker& w);
  void revoke_untaken(worker& w);
  bool drain_ring(worker& w);
  void on_worker_ring(worker& w);
  bool rings_may_sleep();
  void rings_awake();
  bool any_ring_record() const;
  void spin_for_news(detail::activity_window& window);
  bool request_spawn();
  void free_slot_of(pid_t pid);
  void on_reply_too_big(worker& w);
  void fail_lost_tasks(std::deque<task>& tasks, int status);
  void refuse_in_copy(const char* operation) const;
  void break_pool(const std::string& why);
  void release_in_copy() noexcept;
  void stop_worker(worker& w);
  void stop_workers_now(int sig);
  void signal_workers_if_asked();
  void kill_survivors_if_due(clock::time_point now);
  void enforce_deadlines(clock::time_point now);
  int poll_timeout_ms(clock::time_point now) const;

  process_pool_options options_;
  const pid_t owner_pid_;            // the process that built the pool
  const unsigned generation_;        // detail::fork_generation() there
  detail::doorbell wake_;            // submit()/shutdown() -> dispatcher
  detail::channel_region channels_;  // one shared-memory channel per worker slot (before server_: it forks with them)
  detail::fork_server server_;
  int kill_signal_ = 0;              // guarded by mutex_ (the core's); terminate_workers()/kill_workers()'s signal

  // Dispatcher thread only:
  std::vector<worker> workers_;
  std::size_t spawning_ = 0;                // spawn requests not yet answered
  bool unstarted_taken_back_ = false;       // shutdown(cancel_pending) took back what workers had not taken
  std::size_t spawn_failures_ = 0;          // consecutive 'E' answers
  clock::time_point spawn_retry_at_{};      // no spawn request before, after an 'E'
  bool server_alive_ = true;                // its socket has not reached end of stream
  bool is_broken_ = false;                  // break_pool() ran
  bool workers_signalled_ = false;          // kill_signal_ was sent to every worker
  std::optional<clock::time_point> kill_at_;  // after a SIGTERM: when the survivors get SIGKILL
  std::string break_request_;               // a break found while serving a worker, applied after
  // Channel slots: 0 free, -1 asked of the fork server, else the pid of the
  // worker using it until its death report (listed or not). A slot is
  // reset only while free, so no process ever shares it with another.
  std::vector<pid_t> slot_owner_;
  std::deque<std::size_t> requested_slots_;  // the slots of unanswered spawn requests, in request order
};

// ---- implementation ----

inline process_pool::process_pool(process_pool_options options)
    : remote_pool_core("weft::process_pool"),
      options_(std::move(options)),
      owner_pid_((detail::open_standard_descriptors(), ::getpid())),  // before wake_, the first descriptor
      generation_(detail::fork_generation().load(std::memory_order_relaxed)) {  // relaxed: see fork_generation
  if (options_.workers == 0) throw std::invalid_argument("weft::process_pool: needs at least one worker");
  if (options_.workers > (detail::channel_region::max_slots() - 2) / 2)
    throw std::invalid_argument("weft::process_pool: too many workers (their channels would not fit in memory)");
  auto& registry = detail::pool_descriptors::instance();
  registry.add(wake_.read_end());
  registry.add(wake_.write_end());
  try {
    // Room for every worker, its replacement while the old one's death
    // report is on its way, and two more: keep_full_strength waits for a
    // free slot in the rare case none is.
    // One pool at a time between mapping its channels and keeping them from
    // forks: another pool's fork server started in between would carry
    // this region into all of its workers.
    detail::channel_region::fork_guard serialize_channel_forks;
    channels_.create(2 * options_.workers + 2);
    slot_owner_.assign(channels_.slots(), 0);
    server_.start(options_.initializer, options_.max_tasks_per_child, channels_);
    channels_.keep_from_forks();  // after the fork server has its copy
    start_dispatcher([this] { dispatcher_main(); });
  } catch (...) {
    server_.stop(true);  // kills what the fork server started and waits for it to exit
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
  channels_.abandon_in_copy();
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
  refuse_in_copy("submit");
  refuse_if_closed("submit");
  const auto limit = detail::task_timeout(options.timeout);  // may throw: before the task exists
  auto identity = [](std::uintptr_t address) { return static_cast<std::uint64_t>(address); };
  auto [t, result] = detail::make_remote_task(next_task_id(), identity, f, std::forward<Args>(args)...);
  t.timeout = limit;
  enqueue(std::move(t));
  return std::move(result);
}

// A fork()ed copy of the program (after daemon(), in a worker) holds a view
// of the pool without its dispatcher thread or its processes: nothing it
// submits would ever run. Throws pool_broken there.
inline void process_pool::refuse_in_copy(const char* operation) const {
  if (detail::fork_generation().load(std::memory_order_relaxed) != generation_)  // relaxed: see fork_generation
    throw pool_broken(std::string("weft::process_pool: ") + operation +
                      " in a fork()ed copy of the program; the pool belongs to the process that built it");
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
  auto error = break_queue(why);
  for (auto& w : workers_) {
    w.out.reclaim();  // the tasks whose bytes it may hold by reference are freed next
    fail_all(w.running, error);
    stop_worker(w);
  }
  workers_.clear();
}

// Asks a worker to leave with an empty frame, then closes its socket. The
// frame matters when a fork()ed copy of the program still holds the socket:
// the end of stream then never comes. A worker that is busy reads it after
// its task; if the socket is full, the fork server's kill (broken pool) or
// the end of stream has to do. One asleep on its ring is woken to see it.
inline void process_pool::stop_worker(worker& w) {
  if (w.out.send(w.fd, {})) w.out.flush(w.fd);
  if (w.channel != nullptr) w.channel->to_worker.wake_consumer();
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
    if (got == detail::receive_status::malformed) report_anomaly("a malformed message from the fork server");
    server_alive_ = false;  // its answers and death reports end here
    spawning_ = 0;
    requested_slots_.clear();  // no slot is reused from here on
    break_pool("weft::process_pool: the fork server died (killed from outside?); the pool cannot replace workers");
    return;
  }
}

inline void process_pool::on_zygote_message(const detail::zygote_message& m, int fd) {
  std::size_t slot = 0;
  switch (m.kind) {
    case 'S':
      --spawning_;
      if (requested_slots_.empty()) {
        report_anomaly("a spawn answer without a request");
        if (fd >= 0) detail::pool_descriptors::instance().close(fd);
        return;
      }
      slot = requested_slots_.front();
      requested_slots_.pop_front();
      slot_owner_[slot] = m.pid;  // until its death report, listed or not
      // No socket attached: this process is out of descriptors (the kernel
      // dropped it). Its worker sees end of stream and leaves; its death
      // report names no listed worker.
      if (fd < 0) return on_spawn_failed(EMFILE);
      if (is_broken_) {
        detail::pool_descriptors::instance().close(fd);  // its worker sees end of stream and leaves
      } else {
        worker w;
        w.pid = m.pid;
        w.fd = fd;
        w.slot = slot;
        w.channel = &channels_[slot];
        workers_.push_back(std::move(w));
      }
      return;
    case 'E':
      --spawning_;
      if (!requested_slots_.empty()) {  // no process took it
        slot_owner_[requested_slots_.front()] = 0;
        requested_slots_.pop_front();
      }
      return on_spawn_failed(m.status);
    case 'D':
      on_worker_dead(m.pid, m.status);
      free_slot_of(m.pid);  // dead and reaped: nothing writes its channel any more
      return;
    default:
      report_anomaly("an unknown message from the fork server");
  }
}

// A worker could not be started: the fork server's fork() or socketpair()
// failed (EAGAIN, EMFILE, ENOMEM), or its socket could not be received here
// (EMFILE). The counter is reset only when a worker becomes ready, so after
// max_spawn_failures without one the pool is broken: it never forks in a
// loop, whatever the cause.
inline void process_pool::on_spawn_failed(int err) {
  spawn_retry_at_ = clock::now() + spawn_retry_delay;
  if (++spawn_failures_ >= max_spawn_failures)
    break_pool("weft::process_pool: cannot start a worker: " + std::system_category().message(err));
}

// The fork server reports a worker's wait status: the one source of a
// worker's death (its socket may stay open in a helper process the task
// forked, or close long before, when the task closes its descriptors or
// execs). What the worker wrote before it died is read first; then its
// running task ends (worker_lost, or timeout when its deadline killed it)
// and the worker leaves the pool. A pid no listed worker has is ignored (a
// spawn whose socket never arrived, a worker dropped by break_pool()).
inline void process_pool::on_worker_dead(pid_t pid, int status) {
  auto it = std::find_if(workers_.begin(), workers_.end(), [&](const worker& w) { return w.pid == pid; });
  if (it == workers_.end()) return;
  const auto index = static_cast<std::size_t>(it - workers_.begin());
  on_worker_readable(index);  // replies that arrived before it died; closes its socket at end of stream
  if (!drain_ring(workers_[index])) report_anomaly("a dead worker's reply ring is malformed");  // its last replies
  if (workers_[index].fd >= 0) on_worker_closed(workers_[index]);  // a helper holds it open
  worker w = std::move(workers_[index]);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(index));
  if (!w.ready && !workers_signalled_) {  // died in the initializer (not killed on purpose)
    // The initializer's own error, when it sent one before exiting, says more.
    if (!break_request_.empty()) return break_pool(std::exchange(break_request_, {}));
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    return break_pool("weft::process_pool: a worker " + how + " while running the initializer");
  }
  if (w.running.empty()) return;  // recycled (max_tasks_per_child) or stopped: nothing was lost
  if (w.killed_for != 0 && w.running.front().id == w.killed_for)
    return fail_all(w.running, std::make_exception_ptr(weft::timeout(
                                   "weft::process_pool: the task ran past its timeout; its worker was killed")));
  // Killed for a task that finished in time after all (its reply came
  // between the last read and the kill): the task it ran next is not at
  // fault; it goes back to the queue and runs again.
  if (w.killed_for != 0) return requeue_all(w);
  fail_lost_tasks(w.running, status);
}

// End of stream on w's socket (or a protocol it broke): its socket is
// closed, and the tasks it never took go back to the queue: the ones its
// ring still held, taken back (revoke) so that it never takes them. The
// worker may still run the one it took, and replies in its ring are still
// read; it stays listed, with its deadline, until the fork server reports
// its death (on_worker_dead). A task it took and never answered then
// fails with worker_lost: none runs twice.
inline void process_pool::on_worker_closed(worker& w) {
  detail::pool_descriptors::instance().close(w.fd);
  w.fd = -1;
  w.out = detail::frame_writer{};  // nothing more is written: drops what it lent, copies nothing
  w.in = detail::frame_reader{};   // a frame cut short never arrives (and is no reply "arriving")
  if (w.channel == nullptr) return;
  (void)drain_ring(w);  // the replies it sent, so that the front is the task it runs
  revoke_untaken(w);    // what it never took; the rest fail at its death
}

// shutdown(cancel_pending / cancel_all): the tasks handed to w that it has
// not taken from its ring go back to the queue (revoke: exactly one of the
// worker and this takes each), where assign_tasks cancels them: they never
// started. Only when every task w holds went through the ring: a frame on
// the socket cannot be taken back. Safe once nothing more is sent to w
// (the ring's revoke contract): cancelling sends nothing.
inline void process_pool::take_back_unstarted(worker& w) {
  if (w.channel == nullptr || w.ring_broken || w.fd < 0 || w.running.size() < 2) return;
  // Never so (a worker holds two tasks only when both fit its ring:
  // held_payload_max), but a frame on the socket lends the task's bytes.
  if (std::any_of(w.running.begin(), w.running.end(),
                  [](const task& t) { return t.payload.size() > held_payload_max; }))
    return;
  if (!drain_ring(w)) return;  // its replies first, so that the front is the task it runs
  revoke_untaken(w);
}

// The tasks w holds that it never took from its ring go back to the
// queue's front, in order: the last `revoked` of w.running (the ring is in
// send order; revoke: exactly one of the worker and this takes each). A
// ring that cannot be parsed gives nothing back: nothing is known.
inline void process_pool::revoke_untaken(worker& w) {
  if (auto revoked = w.channel->to_worker.revoke()) requeue_last(w, std::min(*revoked, w.running.size()));
}

// Replies from w's ring, in order, each completing the task it names, which
// must be the front (replies come in task order). One that names a later
// task waits (ring_held): the front's own reply, bigger, is still on the
// socket. False: a malformed record (the ring is not read again; the
// caller closes the worker).
inline bool process_pool::drain_ring(worker& w) {
  if (w.channel == nullptr || w.ring_broken) return !w.ring_broken;
  for (;;) {
    if (!w.ring_held) {
      bool marker = false;
      const auto got = w.channel->to_pool.try_pop(w.ring_reply, marker);
      if (got == detail::shm_ring::status::empty) return true;
      if (got != detail::shm_ring::status::record || marker || !w.ready ||
          w.ring_reply.size() < sizeof(std::uint64_t)) {
        report_anomaly("a malformed record in a worker's reply ring");
        w.ring_broken = true;
        return false;
      }
      w.ring_held = true;
    }
    std::uint64_t id;
    std::memcpy(&id, w.ring_reply.data(), sizeof id);
    if (w.running.empty() || w.running.front().id != id) {
      if (std::none_of(w.running.begin(), w.running.end(), [id](const task& t) { return t.id == id; })) {
        report_anomaly("a reply in a worker's ring for a task it does not hold");
        w.ring_held = false;
        w.ring_broken = true;
        return false;
      }
      return true;
    }
    w.ring_held = false;
    w.out.reclaim(w.running.front().payload);  // (a marker's frame left whole before its reply came)
    complete_front(w, w.ring_reply);
  }
}

// News in w's ring only (its socket was quiet).
inline void process_pool::on_worker_ring(worker& w) {
  if (!drain_ring(w) && w.fd >= 0) on_worker_closed(w);
}

// A reply bigger than this process can hold (the reader's buffer for its
// announced length could not be allocated): the task fails with
// std::bad_alloc, on its future rather than on the dispatcher thread (where
// it would std::terminate the program). The worker's stream cannot be
// followed further: its socket is closed (it leaves; its death report finds
// it idle) and the tasks behind go back to the queue.
inline void process_pool::on_reply_too_big(worker& w) {
  w.in = detail::frame_reader{};  // frees what was read of the frame
  if (!w.running.empty()) {
    w.out.reclaim(w.running.front().payload);
    std::deque<task> front;
    front.push_back(std::move(w.running.front()));
    w.running.pop_front();
    fail_all(front, std::make_exception_ptr(std::bad_alloc()));
  }
  on_worker_closed(w);  // gives back what its ring held: the worker was still sending the reply
}

inline void process_pool::on_worker_writable(std::size_t i) {
  worker& w = workers_[i];
  if (w.fd >= 0) w.out.flush(w.fd);  // a gone peer shows as end of stream on the read side
}

inline void process_pool::on_worker_frame(worker& w, std::span<const std::byte> frame, bool& anomaly) {
  if (!w.ready) {
    try {
      reader in(frame);
      if (in.read<bool>()) {
        w.ready = true;
        spawn_failures_ = 0;  // a worker started: earlier failures passed
      } else {
        break_request_ = "weft::process_pool: the initializer failed in a worker: " + in.read<std::string>();
      }
    } catch (const protocol_error&) {
      report_anomaly("a malformed first message from a worker");
      anomaly = true;
    }
    return;
  }
  // Replies in the ring left before this one (an empty frame is only a
  // wake-up: the worker put a reply in the ring while we slept).
  if (!drain_ring(w)) {
    anomaly = true;
    return;
  }
  if (frame.empty()) return;
  // The task's frame left whole before its reply came; if a broken worker
  // replied early, the writer copies the rest before the task is freed.
  if (!w.running.empty()) w.out.reclaim(w.running.front().payload);
  if (!complete_front(w, frame)) anomaly = true;
  if (!drain_ring(w)) anomaly = true;  // one that waited for this reply
}

inline void process_pool::on_worker_readable(std::size_t i) {
  worker& w = workers_[i];
  bool anomaly = !drain_ring(w);  // also once its socket closed: a reply may still come through the ring
  if (w.fd < 0) return;
  detail::frame_reader::status status;
  try {
    status = w.in.read(w.fd, [&](std::span<const std::byte> frame) {
      if (!anomaly) on_worker_frame(w, frame, anomaly);
    });
  } catch (const std::bad_alloc&) {  // the frame's buffer; nothing else in read() allocates
    return on_reply_too_big(w);
  }
  if (status == detail::frame_reader::status::corrupt) report_anomaly("an oversized frame from a worker");
  // At end of stream every reply it put in its ring is there (written
  // before it closed): read them before its tasks are given back.
  if (status == detail::frame_reader::status::closed && !anomaly && !drain_ring(w)) anomaly = true;
  // A worker that broke the protocol is dropped: closing its socket makes it
  // leave, and its task fails with worker_lost once its status arrives.
  if (status != detail::frame_reader::status::open || anomaly) on_worker_closed(w);
}

// The core hands t to w (dispatcher thread, no lock held). Sent or not, w holds
// it from now on: if the worker is gone (its end of stream follows), the
// task fails with worker_lost. False: the worker is gone, send it no more.
// The writer may keep what the socket did not take by reference (lent):
// t's payload stays in w.running, unchanged, until its reply, and every
// path that frees it earlier reclaims first (on_worker_frame, break_pool)
// or drops the writer (on_worker_closed).
//
// A frame of up to shm_ring::inline_max bytes goes into w's ring; a bigger
// one goes on the socket behind a marker record in the ring, which keeps
// the order; a worker asleep on its ring is woken (futex). The ring always has
// room (see shm_ring::inline_max); if it had not, the worker takes nothing
// more and is closed (its tasks given back or failed, never lost).
inline bool process_pool::send_task(worker& w, task& t) {
  static_assert(pipeline_depth * (detail::shm_ring::inline_max + 16) +
                        (quick_depth - pipeline_depth) * (quick_payload + 16) <=
                    detail::shm_ring::capacity,
                "weft: a worker's task ring must hold every task the dispatcher keeps in flight");
  ++w.tasks_sent;
  const bool on_socket = t.payload.size() > detail::shm_ring::inline_max;
  if (!w.channel->to_worker.try_push(t.payload, on_socket)) {
    report_anomaly("a worker's task ring is full");
    w.ring_full = true;
    return false;
  }
  const bool sent = !on_socket || w.out.send(w.fd, t.payload, /*lent=*/true);
  w.channel->to_worker.wake_consumer();  // P4: a worker asleep on its ring's futex
  return sent;
}

// S1/S2 of the ring protocol for every worker's reply ring, before the
// dispatcher sleeps in poll(): false (and every flag cleared) when a
// reply came meanwhile.
inline bool process_pool::rings_may_sleep() {
  for (auto& w : workers_)
    if (w.channel != nullptr && !w.ring_broken && !w.channel->to_pool.may_sleep()) {
      rings_awake();
      return false;
    }
  return true;
}
inline void process_pool::rings_awake() {
  for (auto& w : workers_)
    if (w.channel != nullptr) w.channel->to_pool.awake();
}
inline bool process_pool::any_ring_record() const {
  return std::any_of(workers_.begin(), workers_.end(), [](const worker& w) {
    return w.channel != nullptr && !w.ring_broken && w.channel->to_pool.has_record();
  });
}

// While the activity window is open and nothing happened: waits for a
// reply in a ring or a submit()'s ring of the doorbell, without a system
// call but a sched_yield() now and then (one that lost the core for long
// closes the window), for a bounded number of turns
// (the sockets and the fork server are polled between two such waits).
inline void process_pool::spin_for_news(detail::activity_window& window) {
  for (int turn = 1; turn <= 256; ++turn) {
    if (wake_.rang() || any_ring_record()) return;
    if (turn % 16 != 0) {
      detail::cpu_relax();
      continue;
    }
    if (!window.open()) return;  // the clock every 16th turn only: it cost more than the rings
    window.yield();              // closes the window on a contended machine
  }
}

// Asks the fork server for a worker on a free channel slot, reset first
// (its last user's death was reported: nothing writes it). False: no free
// slot now (a death report frees one), or the socket refused the request.
inline bool process_pool::request_spawn() {
  auto free = std::find(slot_owner_.begin(), slot_owner_.end(), 0);
  if (free == slot_owner_.end()) return false;
  const auto slot = static_cast<std::size_t>(free - slot_owner_.begin());
  channels_[slot].reset();
  if (!server_.request('S', static_cast<int>(slot))) return false;
  slot_owner_[slot] = -1;
  requested_slots_.push_back(slot);
  return true;
}

inline void process_pool::free_slot_of(pid_t pid) {
  auto it = std::find(slot_owner_.begin(), slot_owner_.end(), pid);
  if (it != slot_owner_.end()) *it = 0;
}

// True once shutdown() began and nothing is left: no queued or running task
// (a dead worker's task runs until its death report), no spawn request
// unanswered (an answer carries a worker's socket that must be received,
// or that worker waits).
inline bool process_pool::should_stop() { return spawning_ == 0 && idle_after_close(workers_); }

// Keeps the pool at full strength (replacing dead and recycled workers),
// unless it is broken or shutting down with nothing left to send (a drain
// still needs workers, the first ones included: the pool may be shut down
// before the dispatcher's first turn).
inline void process_pool::keep_full_strength() {
  if (is_broken_ || !server_alive_) return;
  if (spawn_failures_ != 0 && std::chrono::steady_clock::now() < spawn_retry_at_) return;  // poll's timeout retries
  if (!wants_workers()) return;  // shut down, and nothing queued will run
  // A retiring worker holds its slot until its last task is done: its
  // replacement would otherwise run tasks beside it (more than `workers` at
  // once, and out of submission order). A worker whose socket closed holds
  // its slot until its death report (it may still run; one that died in the
  // initializer then breaks the pool instead).
  auto serving = static_cast<std::size_t>(std::count_if(
      workers_.begin(), workers_.end(), [this](const worker& w) { return !retiring(w) || !w.running.empty(); }));
  while (serving + spawning_ < options_.workers && request_spawn()) ++spawning_;
}

inline void process_pool::build_poll_set(std::vector<pollfd>& fds) const {
  fds.assign({{wake_.read_end(), POLLIN, 0}, {server_alive_ ? server_.fd() : -1, POLLIN, 0}});  // -1: ignored
  for (auto& w : workers_)
    fds.push_back({w.fd, static_cast<short>(POLLIN | (w.out.empty() ? 0 : POLLOUT)), 0});
}

inline void process_pool::dispatcher_main() {
  detail::activity_window window(detail::message_window);
  std::vector<pollfd> fds;  // keeps its capacity while spinning
  constexpr int socket_poll_every = 8;
  int turns_unpolled = 0;
  for (;;) {
    if (should_stop()) break;
    keep_full_strength();
    signal_workers_if_asked();
    const auto now = clock::now();
    enforce_deadlines(now);
    kill_survivors_if_due(now);
    build_poll_set(fds);
    const bool spinning = window.open();  // a reply is probably on its way: poll, do not sleep
    // S1/S2 for the doorbell and for every reply ring (see shm_ring.hpp).
    const bool sleep = !spinning && wake_.may_sleep() && rings_may_sleep();
    // A turn that spinning started for news in memory (a reply in a ring,
    // a submit) skips the poll(0), a system call, unless the sockets went
    // unpolled for socket_poll_every turns: big frames, wake-ups and the
    // fork server's reports wait at most that many turns.
    int ready = 0;
    if (sleep || !spinning || ++turns_unpolled >= socket_poll_every || !(wake_.rang() || any_ring_record())) {
      turns_unpolled = 0;
      ready = ::poll(fds.data(), fds.size(), sleep ? poll_timeout_ms(now) : 0);
    } else {
      for (auto& p : fds) p.revents = 0;
    }
    wake_.awake();
    if (sleep) rings_awake();  // S4
    if (ready < 0 && errno != EINTR) {
      // EINVAL: more descriptors than RLIMIT_NOFILE (lowered after the pool
      // was built); ENOMEM. Never silent: the tasks fail. Broken, the pool
      // polls two descriptors; if even that fails, the loop ends (its
      // tasks have failed, later submits throw pool_broken).
      const int err = errno;
      if (is_broken_) break;
      break_pool("weft::process_pool: poll() failed in the dispatcher: " + std::system_category().message(err));
      continue;
    }
    const bool replies = any_ring_record();
    if (ready > 0 || replies) {
      window.mark();
    } else if (spinning && !wake_.rang()) {  // while spinning, a ring writes no byte
      spin_for_news(window);
      continue;
    }
    if (fds[0].revents & POLLIN) wake_.drain();
    // Workers before the fork server: fds[i] is workers_[i - 2] until a
    // death report erases a worker or break_pool() clears them all.
    for (std::size_t i = 2; i < fds.size() && !is_broken_; ++i) {
      if (fds[i].revents & POLLOUT) on_worker_writable(i - 2);
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_worker_readable(i - 2);
    }
    for (auto& w : workers_)  // replies in rings whose sockets were quiet
      if (!is_broken_ && w.channel != nullptr && !w.ring_broken && w.channel->to_pool.has_record()) on_worker_ring(w);
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) on_zygote_readable();
    if (!break_request_.empty()) break_pool(std::exchange(break_request_, {}));
    // Every ring before this look is served by what follows and by the
    // next turn's checks, which come before its poll.
    wake_.look();
    keep_full_strength();  // a worker that died this turn is being replaced: no pipelining yet
    if (!unstarted_taken_back_ && cancelling()) {  // once: nothing is sent after
      unstarted_taken_back_ = true;
      for (auto& w : workers_) take_back_unstarted(w);
    }
    if (assign_tasks(workers_, spawning_ == 0)) window.mark();  // cancels what was taken back
    for (auto& w : workers_)  // a task found its ring full (never in a correct run): the worker is closed
      if (w.ring_full && w.fd >= 0) on_worker_closed(w);
  }
  // Stop the workers; shutdown() then stops the fork server.
  for (auto& w : workers_) stop_worker(w);
  workers_.clear();
}

// submit_with's deadlines: a worker whose task ran past its timeout is
// killed by the fork server; its death report then fails that task with
// weft::timeout. A deadline kills only its own task: what the worker sent
// is read first (a reply that came in time completes its task and the next
// one's clock starts), and a reply still arriving means the task finished.
// A refused request is retried on the next turn.
inline void process_pool::enforce_deadlines(clock::time_point now) {
  for (std::size_t i = 0; i < workers_.size() && !is_broken_; ++i) {
    auto due = deadline(workers_[i]);
    if (!due || now < *due) continue;
    on_worker_readable(i);  // never erases: indexes stay valid
    worker& w = workers_[i];
    due = deadline(w);
    if (!due || now < *due) continue;
    if (w.in.mid_frame()) {  // a reply is arriving: the task finished in time, unless it stalls
      if (w.in.received() != w.reply_bytes || w.reply_moved < *due) {
        w.reply_bytes = w.in.received();
        w.reply_moved = now;
        continue;
      }
      if (now - w.reply_moved < stalled_reply) continue;
    }
    if (server_.request('K', w.pid, SIGKILL)) w.killed_for = w.running.front().id;
  }
}

// The dispatcher sleeps in poll() until the nearest deadline at the latest.
inline int process_pool::poll_timeout_ms(clock::time_point now) const {
  auto wait = std::chrono::milliseconds(dispatcher_poll_ms);
  if (kill_at_)
    wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*kill_at_ - now), std::chrono::milliseconds(0), wait);
  for (const auto& w : workers_)
    if (auto due = deadline(w)) {
      auto at = *due;  // past it with a reply arriving: its bytes wake the poll, a stall ends the wait
      if (now >= at && w.in.mid_frame()) at = std::max(at, w.reply_moved + stalled_reply);
      wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(at - now), std::chrono::milliseconds(0), wait);
    }
  return static_cast<int>(wait.count());
}

// terminate_workers()/kill_workers(): the fork server signals every worker
// it has not reaped, once. Their sockets then close: the running tasks fail
// with worker_lost when the death reports come, the ones behind them go
// back to the queue, where cancelling_ cancels them.
inline void process_pool::signal_workers_if_asked() {
  if (workers_signalled_ || !server_alive_) return;
  int sig;
  {
    std::lock_guard lock(mutex_);
    sig = kill_signal_;
  }
  if (sig != 0 && server_.request('K', 0, sig)) {
    workers_signalled_ = true;
    if (sig != SIGKILL) kill_at_ = clock::now() + terminate_grace;
  }
}

// terminate_workers(): the workers that outlived their SIGTERM by
// terminate_grace get SIGKILL (a refused request is retried next turn).
inline void process_pool::kill_survivors_if_due(clock::time_point now) {
  if (!kill_at_ || now < *kill_at_ || !server_alive_) return;
  if (server_.request('K', 0, SIGKILL)) kill_at_.reset();
}

inline void process_pool::stop_workers_now(int sig) {
  refuse_in_copy(sig == SIGKILL ? "kill_workers" : "terminate_workers");
  refuse_on_dispatcher(sig == SIGKILL ? "kill_workers" : "terminate_workers");
  {
    std::lock_guard lock(mutex_);
    close_locked(shutdown_mode::cancel_pending);
    if (kill_signal_ == 0) kill_signal_ = sig;
  }
  wake_dispatcher();  // acts now, even while another thread's shutdown() waits
  shutdown(shutdown_mode::cancel_pending);
}

inline void process_pool::shutdown(shutdown_mode mode) {
  refuse_in_copy("shutdown");
  // broken: workers may still run tasks nobody waits for; the fork server kills them.
  shutdown_then(mode, [this] { server_.stop(!broken_reason().empty()); });
}

}  // namespace weft
