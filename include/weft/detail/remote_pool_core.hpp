// weft — MIT licence. See LICENSE.
//
// <weft/detail/remote_pool_core.hpp> — internal: the client side of the
// remote pools (process_pool, mpi_pool), written once. Not API.
//
// What it holds: the queue of tasks not yet sent to a worker, the status
// flags, the pending() count, task ids, the reason a pool broke, the
// dispatcher thread and the shutdown sequence; and the dispatcher's steps
// that do not depend on how bytes travel: handing queued tasks to free
// workers, completing a future from its reply, cancelling what must not
// start, failing what a worker held, per-task deadlines.
//
// Its shape: a CRTP base, remote_pool_core<Pool>, from which the pool
// derives publicly (it passes on map/imap/imap_unordered from remote_maps;
// everything of its own is protected). The transport is the pool itself,
// bound at compile time; it provides, for the core only (it befriends it):
//   struct peer : remote_peer      one worker (a socket, an MPI rank)
//   bool accepts_tasks(const peer&, std::size_t planned) const
//                                  the worker may be given a task now, after
//                                  `planned` more that are about to be sent
//                                  (initialized, not being retired)
//   bool send_task(peer&, remote_task&)
//                                  hands the task's frame to the transport;
//                                  false: the worker is gone, send it no more.
//                                  The task then belongs to the worker either
//                                  way (a failed send shows as a lost worker)
//   void wake_dispatcher() noexcept
//                                  submit()/shutdown() -> the dispatcher
//   static constexpr std::size_t held_payload_max
//                                  a worker holds a task behind another only
//                                  when both frames are at most this big
// A template, not a virtual interface: each pool has exactly one transport,
// the calls sit in the dispatcher's per-message loop, and a missing hook is
// a compile error in the pool rather than at run time. Each pool keeps its
// dispatcher loop (poll() on sockets with a fork server to serve; MPI
// probing with backoff), built from the steps below.
//
// Status flags (as thread_pool's): closed_ — shutdown() began, submit
// refuses; cancelling_ — shutdown(cancel_pending / cancel_all) or
// terminate_workers(): what has not started is cancelled, nothing more is
// sent. Legal: neither; closed_; closed_ and cancelling_. Both are set once,
// under mutex_, never cleared. (thread_pool's stopping_ — "everything
// finished, workers exit" — is here the dispatcher leaving its loop:
// idle_after_close() true.)
//
// A task's life: submit -> queue_ (counted by pending()) -> a worker's
// `running` list (the front one runs there; the ones behind it wait in the
// transport and are still counted) -> reply -> future completed. It leaves
// the count when it reaches the front, or when it ends without running
// (cancelled, failed); the count drops before the future completes, so a
// caller woken by the future sees it lower.
#pragma once

#include <weft/detail/remote_task.hpp>
#include <weft/error.hpp>
#include <weft/pool_options.hpp>  // shutdown_mode

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace weft::detail {

// submit_with's timeout as the dispatcher counts it: 0 for none (zero or
// longer than a century, infinity included). Throws std::invalid_argument
// for a negative or NaN timeout.
inline std::chrono::nanoseconds task_timeout(std::chrono::duration<double> timeout) {
  if (!(timeout.count() >= 0)) throw std::invalid_argument("weft::process_pool::submit_with: a negative timeout");
  if (timeout > std::chrono::hours(24 * 365 * 100)) return std::chrono::nanoseconds{0};
  return std::chrono::ceil<std::chrono::nanoseconds>(timeout);  // a positive timeout never rounds to "none"
}

// What the core knows of one worker. Move-only, as its tasks are.
// Dispatcher thread only.
struct remote_peer {
  remote_peer() = default;
  remote_peer(remote_peer&&) = default;
  remote_peer& operator=(remote_peer&&) = default;

  std::deque<remote_task> running;                       // sent, in order; replies come back in this order
  std::chrono::steady_clock::time_point front_since{};  // when running.front() started (its deadline counts from here)
  // How long the last task it finished took, from becoming its front task
  // to its reply; none yet: max (not a quick worker).
  std::chrono::steady_clock::duration last_run = std::chrono::steady_clock::duration::max();
};

// The remote pool whose dispatcher this thread is, if any (set by the
// thread itself). Not a thread id: reading dispatcher_ races with a
// concurrent join(), and an exited dispatcher's id may be reused by a new
// thread that calls shutdown().
inline const void*& dispatcher_on_this_thread() noexcept {
  static thread_local const void* pool = nullptr;
  return pool;
}

template <class Pool>
class remote_pool_core : public remote_maps<Pool> {
 protected:
  using task = remote_task;
  using clock = std::chrono::steady_clock;
  // Tasks in flight per worker: the next one already waits at the worker
  // when the current one finishes, so it never idles for a round trip.
  static constexpr std::size_t pipeline_depth = 2;
  // ...but only behind short tasks: a worker whose last task took longer
  // than pipeline_task, whose current one has run that long, or that has
  // run none yet (its tasks' length is unknown) holds one task at a time.
  // A task sent to a worker has started as far as its future knows, so the
  // one behind a long task could neither be cancelled (cancel(),
  // shutdown(cancel_pending)) nor taken by a worker that frees up first;
  // and a round trip (tens of microseconds) is little next to a millisecond.
  static constexpr auto pipeline_task = std::chrono::milliseconds(1);
  // A worker whose last task ran under quick_task also takes small tasks
  // (frames up to quick_payload bytes) until quick_depth are in flight: with
  // two, a worker that finishes its tasks in microseconds sleeps before the
  // dispatcher's next turn and costs a futex wake-up per task (map over
  // 100k ints in chunks of 256: 36-40M items/s at depth 2, 47-63M at 6).
  // Only while the queue holds a backlog of quick_depth tasks per worker:
  // the past says nothing of the tasks to come, and a burst of slow tasks
  // after quick ones (10 x 100 ms on 2 warm workers: 801 ms at depth 8,
  // 500 ms at 2) or a batch's tail must spread over every worker. A
  // backlog keeps every worker busy anyway; the tail goes out 2 at a time.
  static constexpr std::size_t quick_depth = 8;
  static constexpr auto quick_task = std::chrono::microseconds(100);
  static constexpr std::size_t quick_payload = std::size_t{4} << 10;

  // `name` prefixes every message ("weft::process_pool").
  explicit remote_pool_core(const char* name) noexcept : name_(name) {}
  remote_pool_core(const remote_pool_core&) = delete;
  remote_pool_core& operator=(const remote_pool_core&) = delete;

  // ---- any thread ----

  // A fast refusal once shutdown() began; enqueue() decides under mutex_.
  // acquire: pairs with close_locked()'s release store.
  void refuse_if_closed(const char* operation) const {
    if (closed_.load(std::memory_order_acquire))
      throw pool_closed(std::string(name_) + ": " + operation + " after shutdown()");
  }
  // shutdown() and the calls built on it wait for the dispatcher thread, on
  // which done callbacks run: called there, they would wait for themselves.
  // Throws std::logic_error (as thread_pool's shutdown() on its own worker).
  void refuse_on_dispatcher(const char* operation) const {
    if (dispatcher_on_this_thread() == this)
      throw std::logic_error(std::string(name_) + "::" + operation +
                             ": called on the pool's dispatcher thread (a done callback) and would wait for itself");
  }
  // relaxed: ids need only be unique.
  std::uint64_t next_task_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  // Queues t and wakes the dispatcher. Throws pool_closed after shutdown(),
  // pool_broken once broken; t's future then reads cancelled.
  void enqueue(task t);
  // Submitted, not yet started by a worker (snapshot).
  // relaxed: a count with no data behind it; a caller woken by a future
  // sees the decrement through the future's completion (release/acquire in
  // shared_state), which follows it (see the header comment).
  std::size_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }
  // Stops accepting tasks; unless `mode` drains, cancels what has not
  // started. Caller holds mutex_.
  void close_locked(shutdown_mode mode) {
    closed_.store(true, std::memory_order_release);  // release: pairs with refuse_if_closed()'s acquire
    if (mode != shutdown_mode::drain) cancelling_ = true;
  }
  // shutdown(): closes, wakes the dispatcher and joins it, then runs
  // `teardown` (the transport's end) once. Idempotent; a concurrent call
  // returns after the first one finished.
  template <class Teardown>
  void shutdown_then(shutdown_mode mode, Teardown teardown);
  // shutdown(cancel_pending / cancel_all) or terminate_workers() began.
  bool cancelling() {
    if (!closed_.load(std::memory_order_acquire)) return false;  // cancelling_ is set only with closed_ (cheap test first)
    std::lock_guard lock(mutex_);
    return cancelling_;
  }
  // Why the pool is broken; empty while it works.
  std::string broken_reason() {
    std::lock_guard lock(mutex_);
    return broken_;
  }

  // ---- the dispatcher thread ----

  // Every peer that accepts tasks gets one before any gets a second
  // (pipelined behind the first), and pipelining waits until every peer is
  // up (`none_starting`: no worker is still being started): a task waits
  // behind another only while no worker could take it. After shutdown
  // (cancelling_) the rest of the queue is cancelled. True if a task was
  // sent (a reply is on its way).
  template <class Peer>
  bool assign_tasks(std::vector<Peer>& peers, bool none_starting);
  // Completes the future of p's front task from its reply; false (and a
  // report) if p runs no task: the caller drops p or ignores the reply.
  bool complete_front(remote_peer& p, std::span<const std::byte> reply);
  // Gives back to the queue, in order, the tasks behind p's front one
  // (sent, never started by the worker); p.running keeps the front one.
  void requeue_behind_front(remote_peer& p);
  // Gives every task of p back to the queue's front, in order, counted by
  // pending() again: p's worker was stopped for no fault of theirs.
  void requeue_all(remote_peer& p) { requeue_last(p, p.running.size()); }
  // The same for the last n tasks of p (n <= p.running.size()): the
  // transport proved that its worker never took them (process_pool's ring).
  void requeue_last(remote_peer& p, std::size_t n);
  // Fails every task of `tasks` with e.
  void fail_all(std::deque<task>& tasks, const std::exception_ptr& e);
  // Marks the pool broken (later submits throw pool_broken(why)) and fails
  // the queued tasks; returns the error for the caller to fail the rest.
  std::exception_ptr break_queue(const std::string& why);
  // True once shutdown() began and neither the queue nor a peer holds a task.
  template <class Peer>
  bool idle_after_close(const std::vector<Peer>& peers);
  // False once shutdown() began and nothing queued will run: no worker
  // needs starting any more.
  bool wants_workers() {
    std::lock_guard lock(mutex_);
    return !closed_.load(std::memory_order_relaxed) || (!queue_.empty() && !cancelling_);  // relaxed: under mutex_
  }
  // When p's running task must end (submit_with), if it has a deadline.
  static std::optional<clock::time_point> deadline(const remote_peer& p) {
    if (p.running.empty() || p.running.front().timeout.count() == 0) return std::nullopt;
    return p.front_since + std::chrono::duration_cast<clock::duration>(p.running.front().timeout);
  }
  // A broken protocol between the pool and a worker, on stderr: the caller
  // also fails the affected future or drops the worker (whose tasks fail).
  void report_anomaly(const char* what) const noexcept { std::fprintf(stderr, "%s: %s\n", name_, what); }
  const char* name() const noexcept { return name_; }

  // The pool's constructor starts the dispatcher thread, before any other
  // thread can reach the pool; shutdown_then() joins it.
  template <class Main>
  void start_dispatcher(Main main) {
    dispatcher_ = std::thread([this, main = std::move(main)]() mutable {
      dispatcher_on_this_thread() = this;
      main();
    });
  }
  std::thread dispatcher_;
  std::mutex mutex_;        // guards queue_, cancelling_, broken_ (and what the pool adds)

 private:
  Pool& self() noexcept { return static_cast<Pool&>(*this); }
  // assign_tasks' steps: plan_for (under mutex_) moves tasks for peers[index]
  // from queue_ to handout_ up to `depth` in flight; send_planned hands them out.
  template <class Peer>
  void plan_for(Peer& p, std::size_t index, std::size_t depth, std::size_t max_payload = SIZE_MAX);
  template <class Peer>
  bool send_planned(std::vector<Peer>& peers);
  void push_running(remote_peer& p, task t);
  // p's tasks are short (see pipeline_task): it may hold one behind another.
  static bool runs_short_tasks(const remote_peer& p, clock::time_point now) noexcept {
    return p.last_run < pipeline_task && (p.running.empty() || now - p.front_since < pipeline_task);
  }
  // t leaves pending()'s count (it runs at its worker, or ends unrun).
  void stop_counting(task& t) noexcept {
    if (!std::exchange(t.waiting, false)) return;
    waiting_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see waiting()
  }
  void finish(task& t) noexcept {
    stop_counting(t);
    t.release();
  }
  void cancel_unstarted(task& t) noexcept {
    stop_counting(t);  // before the future completes: see the header comment
    t.cancel_unstarted();
    finish(t);
  }

  const char* name_;
  std::deque<task> queue_;               // guarded by mutex_; submitted, not yet sent to a worker
  bool cancelling_ = false;              // guarded by mutex_
  std::string broken_;                   // guarded by mutex_; why the pool is broken, empty while it works
  std::atomic<bool> closed_{false};      // written under mutex_; read without it by refuse_if_closed()
  std::atomic<std::size_t> waiting_{0};  // pending(): see waiting()
  std::atomic<std::uint64_t> next_id_{1};
  // assign_tasks' scratch, dispatcher thread only (kept for their capacity).
  struct planned_task {
    std::size_t peer;  // index into the peers passed to assign_tasks
    task t;
  };
  std::vector<planned_task> handout_;   // to send, in this order
  std::vector<std::size_t> planned_;    // per peer: tasks in handout_
  std::vector<bool> refused_;           // per peer: its transport refused a task (gone)
  std::vector<task> unstartable_;       // cancelled before they could start
  std::mutex shutdown_mutex_;            // serializes shutdown_then()
  bool joined_ = false;                  // guarded by shutdown_mutex_
};

// ---- implementation ----

template <class Pool>
void remote_pool_core<Pool>::enqueue(task t) {
  {
    std::lock_guard lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) {  // relaxed: under mutex_, as every store
      t.discard();
      throw pool_closed(std::string(name_) + ": submit after shutdown()");
    }
    if (!broken_.empty()) {
      t.discard();
      throw pool_broken(broken_);
    }
    // A throwing push_back drops t, whose destructor cancels its future.
    queue_.push_back(std::move(t));
    waiting_.fetch_add(1, std::memory_order_relaxed);  // relaxed: see waiting()
  }
  self().wake_dispatcher();
}

template <class Pool>
template <class Teardown>
void remote_pool_core<Pool>::shutdown_then(shutdown_mode mode, Teardown teardown) {
  refuse_on_dispatcher("shutdown");
  std::lock_guard guard(shutdown_mutex_);
  if (joined_) return;
  {
    std::lock_guard lock(mutex_);
    close_locked(mode);
  }
  self().wake_dispatcher();
  if (dispatcher_.joinable()) dispatcher_.join();
  teardown();
  joined_ = true;
}

template <class Pool>
template <class Peer>
void remote_pool_core<Pool>::plan_for(Peer& p, std::size_t index, std::size_t depth, std::size_t max_payload) {
  // The last task p holds or is about to hold (null: none).
  auto last_held = [&]() -> const task* {
    if (planned_[index] != 0)
      for (auto it = handout_.rbegin(); it != handout_.rend(); ++it)
        if (it->peer == index) return &it->t;
    return p.running.empty() ? nullptr : &p.running.back();
  };
  // A task with a deadline (submit_with) is the last one its peer holds:
  // nothing is pipelined behind it, so a deadline's kill can only ever hit
  // its own task, never one that started after it (and would run twice).
  // Nor does a peer hold two tasks when either is over the transport's
  // held_payload_max: the one behind could not be taken back unstarted.
  auto may_hold_next = [&] {
    const task* last = last_held();
    if (last == nullptr) return true;
    return last->timeout.count() == 0 && last->payload.size() <= Pool::held_payload_max &&
           queue_.front().payload.size() <= Pool::held_payload_max;
  };
  while (!queue_.empty() && p.running.size() + planned_[index] < depth && queue_.front().payload.size() <= max_payload &&
         may_hold_next() && self().accepts_tasks(p, planned_[index])) {
    task t = std::move(queue_.front());
    queue_.pop_front();
    // Cancelled by its future (start fails). A task given back from a lost
    // worker was started already: it is not started again.
    if (!t.started && !t.try_start()) {
      unstartable_.push_back(std::move(t));
      continue;
    }
    handout_.push_back({index, std::move(t)});
    ++planned_[index];
  }
}

template <class Pool>
void remote_pool_core<Pool>::push_running(remote_peer& p, task t) {
  if (p.running.empty()) {
    p.front_since = clock::now();
    stop_counting(t);  // the worker runs it now
  }
  p.running.push_back(std::move(t));
}

template <class Pool>
template <class Peer>
bool remote_pool_core<Pool>::assign_tasks(std::vector<Peer>& peers, bool none_starting) {
  // Which peer gets which task is decided under mutex_; the sends (system
  // calls) and the cancellations (which run done callbacks) happen after,
  // so submit() never waits behind them and no callback runs under the lock.
  planned_.assign(peers.size(), 0);
  {
    std::lock_guard lock(mutex_);
    if (cancelling_) {  // nothing may start any more; one given back from a lost worker ends cancelled too
      for (task& t : queue_) unstartable_.push_back(std::move(t));
      queue_.clear();
    }
    for (std::size_t i = 0; i < peers.size(); ++i) plan_for(peers[i], i, 1);
    bool all_up = none_starting;
    for (std::size_t i = 0; i < peers.size(); ++i) all_up = all_up && self().accepts_tasks(peers[i], planned_[i]);
    if (all_up) {
      const auto now = clock::now();
      for (std::size_t i = 0; i < peers.size(); ++i)
        if (runs_short_tasks(peers[i], now)) plan_for(peers[i], i, pipeline_depth);
      for (std::size_t i = 0; i < peers.size(); ++i)
        if (peers[i].last_run < quick_task && runs_short_tasks(peers[i], now) &&
            queue_.size() >= peers.size() * quick_depth)
          plan_for(peers[i], i, quick_depth, quick_payload);
    }
  }
  for (task& t : unstartable_) cancel_unstarted(t);
  unstartable_.clear();
  return send_planned(peers);
}

// Sends the planned tasks in order. A peer whose transport refused one (a
// worker found gone) gets no further task now: those go back to the queue's
// front, in order, started already (so never started twice).
template <class Pool>
template <class Peer>
bool remote_pool_core<Pool>::send_planned(std::vector<Peer>& peers) {
  refused_.assign(peers.size(), false);
  std::vector<task> given_back;
  for (auto& [index, t] : handout_) {
    if (refused_[index]) {
      given_back.push_back(std::move(t));
      continue;
    }
    refused_[index] = !self().send_task(peers[index], t);
    push_running(peers[index], std::move(t));
  }
  const bool sent_any = !handout_.empty();
  handout_.clear();
  if (!given_back.empty()) {
    std::lock_guard lock(mutex_);
    queue_.insert(queue_.begin(), std::make_move_iterator(given_back.begin()),
                  std::make_move_iterator(given_back.end()));
  }
  return sent_any;
}

template <class Pool>
bool remote_pool_core<Pool>::complete_front(remote_peer& p, std::span<const std::byte> reply) {
  if (p.running.empty()) {
    report_anomaly("a reply from a worker that runs no task");
    return false;
  }
  task t = std::move(p.running.front());
  p.running.pop_front();
  const auto now = clock::now();
  p.last_run = now - p.front_since;
  if (!p.running.empty()) {  // the worker reads the next task as soon as it replied
    p.front_since = now;
    stop_counting(p.running.front());
  }
  t.complete_from(reply);  // a reply that does not decode fails the future with protocol_error
  finish(t);
  return true;
}

template <class Pool>
void remote_pool_core<Pool>::requeue_behind_front(remote_peer& p) {
  std::lock_guard lock(mutex_);
  while (p.running.size() > 1) {
    queue_.push_front(std::move(p.running.back()));  // still counted by pending(): never left it
    p.running.pop_back();
  }
}

template <class Pool>
void remote_pool_core<Pool>::requeue_last(remote_peer& p, std::size_t n) {
  WEFT_ASSERT(n <= p.running.size(), "requeue_last: more tasks than the peer holds");
  std::lock_guard lock(mutex_);
  for (; n != 0 && !p.running.empty(); --n) {
    task& t = p.running.back();
    if (!std::exchange(t.waiting, true)) waiting_.fetch_add(1, std::memory_order_relaxed);  // relaxed: see waiting()
    queue_.push_front(std::move(t));
    p.running.pop_back();
  }
}

template <class Pool>
void remote_pool_core<Pool>::fail_all(std::deque<task>& tasks, const std::exception_ptr& e) {
  for (task& t : tasks) {
    stop_counting(t);
    t.fail_with(e);
    finish(t);
  }
  tasks.clear();
}

template <class Pool>
std::exception_ptr remote_pool_core<Pool>::break_queue(const std::string& why) {
  std::deque<task> queued;
  {
    std::lock_guard lock(mutex_);
    broken_ = why;
    queued.swap(queue_);
  }
  auto error = std::make_exception_ptr(pool_broken(why));
  fail_all(queued, error);
  return error;
}

template <class Pool>
template <class Peer>
bool remote_pool_core<Pool>::idle_after_close(const std::vector<Peer>& peers) {
  if (std::any_of(peers.begin(), peers.end(), [](const Peer& p) { return !p.running.empty(); })) return false;
  std::lock_guard lock(mutex_);
  return closed_.load(std::memory_order_relaxed) && queue_.empty();  // relaxed: under mutex_
}

}  // namespace weft::detail
