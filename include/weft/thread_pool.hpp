// weft — MIT licence. See LICENSE.
//
// <weft/thread_pool.hpp> — a work-stealing thread pool returning
// weft::future: the C++ counterpart of concurrent.futures.ThreadPoolExecutor
// (submit, map, shutdown) plus parallel_for, post and wait.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <weft/detail/asymmetric_fence.hpp>
#include <weft/detail/imap.hpp>
#include <weft/detail/injection_queue.hpp>
#include <weft/detail/part_claims.hpp>
#include <weft/detail/range_access.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/detail/stack_bounds.hpp>
#include <weft/detail/task_call.hpp>
#include <weft/detail/wait.hpp>
#include <weft/detail/work_stealing_deque.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <array>
#include <atomic>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <weft/detail/function.hpp>  // std::function, detail::invoke; not all of <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace weft {

struct thread_pool_options {
  std::size_t threads = default_workers(workload::cpu);
  // Called once in each worker, with its 0-based index, before it runs tasks.
  // If it throws, the pool is broken (Python's BrokenThreadPool): queued and
  // later tasks fail with weft::pool_broken naming the error, and submit()
  // throws it.
  std::function<void(std::size_t)> initializer;
  // OS thread names are `name-N` (truncated to 15 characters on Linux).
  std::string name = "weft";
  // Receives exceptions escaping post()ed tasks. Default:
  // print the message and std::terminate, so that nothing is lost silently.
  std::function<void(std::exception_ptr)> error_handler;
};

// A fixed set of worker threads with per-worker work-stealing deques and a
// shared FIFO injection queue (like Python's ThreadPoolExecutor).
//
// Thread-safety: every member may be called concurrently from any thread,
//   workers included, except the destructor. wait() and shutdown() called
//   from one of this pool's own workers throw std::logic_error (they would
//   wait for themselves).
// Blocking: submit()/post() never block. map(), parallel_for(), wait() and
//   shutdown() block until their tasks finish. A worker of this pool that
//   waits without a deadline for all of its futures (future::get/wait,
//   weft::wait(all_completed), when_all, map, parallel_for) helps instead
//   of sleeping, but only with work that cannot wait on it: an awaited task
//   that has not started, the tasks the waiting task spawned (above its
//   mark in the worker's own deque), and, while an awaited task runs on
//   another worker, the subtasks that task itself waits for with get() or
//   wait() (stolen from above its mark: "leapfrogging", as in Java's
//   ForkJoinPool). It never picks up an unrelated queued task, nor a
//   subtask the awaited task posted and does not wait for (a consumer fed
//   by the waiter, say), which could wait on it or need a lock it holds.
//   Races (weft::wait(first_completed / first_exception), as_completed,
//   when_any) never help: a racer may run until the waiter stops it.
//   Helping nests at most until a quarter of the worker's stack is left (or
//   max_help_depth levels); then, or when nothing safe is left, the waiter
//   sleeps: such a pool can deadlock only where a plain FIFO pool of the
//   same size would. Timed waits (wait_for, ...) never help: they sleep,
//   and return by their deadline. Idle workers spin briefly (O(1) per
//   round), then sleep on a futex until work arrives; with more workers
//   than CPUs, a worker that ran an outside submission sleeps at once.
// Exceptions: the constructor throws std::invalid_argument for 0 threads and
//   std::system_error if a thread cannot start. submit()/post()/map()/
//   parallel_for() throw weft::pool_closed once shutdown() began. A task's
//   exception is stored in its future; map() and parallel_for() rethrow the
//   first (in input order) after all items finished; an exception escaping a
//   post()ed task goes to the error handler.
// Ordering: submit(f) happens before f runs; f's completion happens before
//   get()/wait() on its future return. Tasks submitted from outside the pool
//   start in submission order (FIFO): workers take them from the shared
//   queue one at a time. Tasks submitted from a worker go to that worker's
//   deque (LIFO for the worker, stolen FIFO by idle workers).
// Cost: submit() is one allocation (the task's state, shared with its
//   future), one deque push (no locked instruction) or one lock-free append,
//   and a futex wake only when a worker sleeps. Workers lock the shared
//   queue once per task taken. A worker about to sleep issues one
//   membarrier system call on Linux (see detail/asymmetric_fence.hpp).
// Lifetime: the destructor drains (shutdown(drain)) and joins. A task's
//   callable and captures are destroyed as soon as it finishes or is
//   cancelled; the pool keeps no reference to them.
class thread_pool final : private detail::executor_hooks {
 public:
  thread_pool() : thread_pool(thread_pool_options{}) {}
  explicit thread_pool(std::size_t threads) : thread_pool(options_with(threads)) {}
  explicit thread_pool(thread_pool_options options);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  // Runs f(args...) on a worker; its future holds the result or exception.
  // Arguments are copied/moved into the task (use std::ref to pass a reference).
  // Thread-safe. Never blocks. Throws weft::pool_closed after shutdown().
  // A callable invocable as f(std::stop_token, args...) receives the task's
  // token: future::request_stop() and shutdown(cancel_all) request it.
  template <class F, class... Args>
  [[nodiscard("a discarded future hides the task's exception: keep it, or use post()")]]
  auto submit(F&& f, Args&&... args) -> future<detail::task_result_t<F, Args...>>;

  // Fire and forget: runs f(args...); an escaping exception goes to the
  // error handler. Thread-safe. Never blocks. Throws weft::pool_closed.
  template <class F, class... Args>
  void post(F&& f, Args&&... args);

  // Applies f to every element of `items` in parallel, in parts of `chunk`
  // elements (0: about four parts per worker), and returns the results in
  // input order. Up to size() tasks claim the parts in turn; a caller that
  // is one of this pool's workers claims parts too (f runs on the pool's
  // workers only, never on an outside caller). Rethrows the first exception
  // (in input order) after every item finished. Blocks. Throws
  // weft::pool_closed.
  template <std::ranges::forward_range Range, class F>
  auto map(F&& f, Range&& items, std::size_t chunk = 0)
      -> detail::map_result_t<std::invoke_result_t<F&, std::ranges::range_reference_t<detail::map_input_t<Range>>>>;

  // Lazy map (Python's Pool.imap): a single-pass range of f(item) in input
  // order. Reads `input` (single-pass or unbounded, e.g. std::views::iota(0))
  // only while fewer than options.buffersize chunks (default 2 x size()) of
  // options.chunksize items (default 1) are in flight, so memory stays
  // bounded. Dereferencing a failed item rethrows its exception; the
  // iterator stays valid and ++ moves past it. Leaving the loop early
  // cancels what has not started and waits for what runs. An lvalue input
  // and the pool must outlive the range (as a container outlives its
  // iterators). After a shutdown() the chunks already submitted are still
  // delivered; the first item that could not be, and the input's own
  // exception, throw when reached (as one last item).
  // Thread-safe to call; iterate from one thread. Throws weft::pool_closed.
  template <class F, std::ranges::input_range Range>
  auto imap(F f, Range&& input, map_options options = {});
  // The same, yielding results in the order their chunks complete
  // (Pool.imap_unordered).
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F f, Range&& input, map_options options = {});

  // Calls f(i) for every i in [first, last), in parts of `grain` indices
  // (0: about four parts per worker), claimed as map's are. Blocks until
  // done; rethrows the first exception (lowest index range) after every
  // part finished. first and last may differ in type (parallel_for(0,
  // v.size(), f)): i has their common type. Throws std::invalid_argument
  // if first or last is negative and that type is unsigned (the index would
  // wrap), std::length_error for a range (__int128) that would need more
  // than SIZE_MAX parts.
  template <std::integral First, std::integral Last, class F>
  void parallel_for(First first, Last last, F&& f, std::size_t grain = 0);

  // Blocks until the pool is idle: every task submitted before the call,
  // and every task submitted while it waits (by tasks or by other threads),
  // has finished (BS::thread_pool's wait(), oneTBB's task_group::wait()). So
  // a task that posts its children and returns is waited for with them,
  // and a task that resubmits itself forever (a heartbeat) keeps wait() from
  // returning until shutdown(cancel_pending) refuses the next beat.
  // Throws std::logic_error when called from one of this pool's workers.
  void wait();

  // Stops accepting tasks (later submissions throw weft::pool_closed), then
  // either runs (drain) or cancels (cancel_pending, cancel_all) the tasks not
  // yet started; cancel_all also requests stop of the running tasks that
  // take a std::stop_token. Waits for the running ones, and joins the
  // workers. Idempotent; concurrent calls all return after the workers are
  // joined. A later cancel_pending or cancel_all escalates a drain in
  // progress at once: its cancellations (and stop requests) happen before
  // it waits, whatever another call is waiting for.
  // Throws std::logic_error when called from one of this pool's workers.
  void shutdown(shutdown_mode mode = shutdown_mode::drain);

  // Snapshots.
  std::size_t size() const noexcept { return workers_.size(); }
  // Tasks submitted and not yet started (cancelled ones until discarded).
  std::size_t pending() const noexcept;
  // Tasks running right now.
  std::size_t running() const noexcept;

 private:
  struct alignas(detail::false_sharing_range) worker {
    detail::work_stealing_deque<detail::state_base*> deque;  // owner: this worker
    std::atomic<std::size_t> busy{0};  // tasks this worker is running (nested when helping)
    std::thread thread;
  };
  // The calling worker's state while it runs tasks (owner thread only).
  struct worker_context {
    const thread_pool* pool;
    std::size_t index;
    std::int64_t floor = 0;             // deque mark of the task running now: its subtasks lie above
    std::size_t depth = 0;              // tasks nested on this stack (0: the worker loop)
    std::uintptr_t stack_limit = 0;     // help no deeper than this address (0: unknown)
    std::size_t credit = 0;             // retired entries not yet subtracted from outstanding_
  };
  // Nesting bound where the stack's extent is unknown, and a sanity bound
  // where it is known.
  static constexpr std::size_t max_help_depth = 4096;
  static constexpr std::size_t max_help_depth_unknown_stack = 256;
  // A waiter with nothing safe to run re-checks for leapfrogging work after
  // sleeping this long, doubling up to the maximum (an awaited task running
  // elsewhere may spawn subtasks at any time; its completion wakes us at once).
  static constexpr auto min_help_nap = std::chrono::microseconds(20);
  static constexpr auto max_help_nap = std::chrono::microseconds(1000);
  static worker_context*& current() noexcept {
    static thread_local worker_context* context = nullptr;
    return context;
  }

  static thread_pool_options options_with(std::size_t threads) {
    thread_pool_options o;
    o.threads = threads;
    return o;
  }

  bool on_worker_thread() const noexcept { return current() != nullptr && current()->pool == this; }

  // executor_hooks
  static bool help_hook(detail::executor_hooks* self, const detail::wait_request& request) {
    return static_cast<thread_pool*>(self)->help_while_waiting(request);
  }
  bool help_while_waiting(const detail::wait_request& request);
  bool help_once(worker_context& ctx, std::span<detail::state_base* const> awaited);
  // Whether the task running on `worker` at deque mark `mark` depends on
  // `task` (taken from above that mark): `task` was joined by a waiter on
  // that worker whose frame's mark is at or above `mark`. Such a frame runs
  // nested inside the marked task (frames below it have lower marks, or
  // the same mark but a wait begun before `task` was pushed, so they
  // cannot have joined it), and a joining waiter waits until `task` is
  // done, so the mark is current while `task` has not run.
  static bool depends_on(const detail::state_base* task, std::size_t worker, std::int64_t mark) noexcept {
    const std::uint64_t joiner = task->joined();
    return joiner != 0 && (joiner & 0xffff) == worker + 1 && static_cast<std::int64_t>(joiner >> 16) >= mark;
  }
  bool may_nest(const worker_context& ctx) const noexcept;
  void run_nested(detail::state_base* task, worker_context& ctx, detail::state_base::on_complete ref) noexcept;
  // placement words: worker index + 1 in the low 16 bits, deque mark above.
  static std::uint64_t placement_of(std::size_t worker, std::int64_t floor) noexcept {
    return (static_cast<std::uint64_t>(floor) << 16) | (worker + 1);
  }

  template <class R, class F>
  future<R> enqueue_task(F&& task);
  template <class R, class F>
  detail::shared_state<R>* new_state(F&& task, std::uint32_t refs);
  template <class Task>
  void post_state(Task&& task);
  void enqueue(detail::state_base* task);
  void notify_one_worker() noexcept;
  detail::state_base* find_work(std::size_t self, bool& from_deque);
  detail::state_base* pop_injected();
  detail::state_base* steal(std::size_t self);
  bool has_work() const noexcept;
  bool idle_spin(std::size_t self, bool after_local_work) const noexcept;
  // How long an idle worker sleeps: until woken, or, once the process's
  // asymmetric fence is unreliable (asymmetric_fence::reliable()), a short
  // poll: a push may then have skipped its half of the handshake.
  static detail::wait_policy sleep_policy() noexcept {
    return detail::asymmetric_fence::reliable() ? detail::wait_policy::forever()
                                                : detail::wait_policy::for_(std::chrono::milliseconds(1));
  }
  void execute(detail::state_base* task, worker_context& ctx) noexcept;
  void discard(detail::state_base* task) noexcept;
  void finish_entry() noexcept;
  void retire(std::size_t n) noexcept;
  void finish_entry(worker_context& ctx) noexcept;
  void return_credit(worker_context& ctx) noexcept;
  void worker_main(std::size_t index);
  void wait_until_idle();
  void cancel_all_pending();
  void report(std::exception_ptr error) noexcept;
  void mark_broken(std::exception_ptr initializer_error) noexcept;
  template <class RunPart>
  void run_parts(std::size_t parts, RunPart run_part);
  template <bool Ordered, class F, class Range>
  auto streaming_map(F f, Range&& input, map_options options);
  static std::string thread_name(const std::string& name, std::size_t index);
  // About four parts per worker: enough slack for claiming to balance.
  // Rounded up without count + parts - 1, which overflows for a count near
  // 2^64 (parallel_for over a whole uint64_t range). Count: size_t, or a
  // wider unsigned type for an __int128 range.
  template <class Count>
  Count default_chunk(Count count) const noexcept {
    const Count parts = 4 * size();
    return std::max<Count>(1, count / parts + (count % parts != 0 ? 1 : 0));
  }

  thread_pool_options options_;
  std::vector<std::unique_ptr<worker>> workers_;  // fixed after construction
  bool oversubscribed_ = false;  // more workers than usable CPUs (see idle_spin); fixed after construction

  detail::injection_queue injected_;  // FIFO of tasks submitted from outside the pool

  // Invariant: outstanding_ >= the queue entries not yet retired, and it is
  // 0 only when none is left. Tasks from outside the pool add 1 before the
  // closed_ check in enqueue() (Dekker with shutdown()). A worker that
  // retires an entry does not subtract at once: it keeps the count as
  // credit (worker_context::credit), spends credit on its own submissions
  // (a submission that keeps outstanding_ unchanged: it was already one too
  // high), and returns the rest before it sleeps, before a helping wait
  // parks, or past credit_limit. So fork-join code, which submits and
  // retires on the same worker, does not touch this shared line per task.
  alignas(detail::false_sharing_range) std::atomic<std::size_t> outstanding_{0};
  static constexpr std::size_t credit_limit = 256;
  // How long an idle worker keeps looking for work before it sleeps (see idle_spin).
  static constexpr auto idle_spin_time = std::chrono::microseconds(50);
  detail::parking_word<> idle_signal_;  // bumped when outstanding_ drops to 0
  alignas(detail::false_sharing_range) detail::parking_word<> work_signal_;  // bumped when work arrives for sleepers
  std::atomic<bool> closed_{false};      // set once by shutdown()
  // Set once when a worker's initializer throws (Python's BrokenThreadPool):
  // queued and later tasks fail with pool_broken(broken_reason_), which is
  // written under broken_mutex_ before the release store of broken_.
  std::atomic<bool> broken_{false};
  std::mutex broken_mutex_;
  std::string broken_reason_;
  std::atomic<bool> cancelling_{false};  // set by shutdown(cancel_pending)
  std::atomic<bool> stopping_{false};    // set once everything finished; workers exit
  std::mutex shutdown_mutex_;            // serializes shutdown(); guards joined_
#if defined(WEFT_HAS_STOP_TOKEN)
  std::stop_source stop_all_;  // requested by shutdown(cancel_all); running stoppable tasks follow it
#endif
  bool joined_ = false;                  // guarded by shutdown_mutex_
};

// ---- implementation ----

inline thread_pool::thread_pool(thread_pool_options options)
    : executor_hooks(&thread_pool::help_hook), options_(std::move(options)) {
  if (options_.threads == 0)
    throw std::invalid_argument("weft::thread_pool: needs at least one thread");
  workers_.reserve(options_.threads);
  oversubscribed_ = options_.threads > detail::usable_cpus();
  for (std::size_t i = 0; i < options_.threads; ++i) workers_.push_back(std::make_unique<worker>());
  detail::asymmetric_fence::prepare();  // before any worker pushes or sleeps (see there)
  try {
    for (std::size_t i = 0; i < options_.threads; ++i)
      workers_[i]->thread = std::thread([this, i] { worker_main(i); });
  } catch (...) {
    shutdown(shutdown_mode::cancel_pending);  // joins the threads that started
    throw;
  }
}

inline thread_pool::~thread_pool() {
  // A destructor never throws; shutdown() from a worker is a logic error
  // that would deadlock (a thread cannot join itself), so it ends the
  // program instead, saying why. The usual way in: a task's capture held
  // the pool's last owner (README "Limits").
  if (on_worker_thread()) {
    std::fprintf(stderr,
                 "weft::thread_pool: destroyed by one of its own tasks (did a task's capture hold the pool's last "
                 "owner?): a worker cannot join itself\n");
    std::terminate();
  }
  shutdown(shutdown_mode::drain);
}

template <class F, class... Args>
auto thread_pool::submit(F&& f, Args&&... args) -> future<detail::task_result_t<F, Args...>> {
  using R = detail::task_result_t<F, Args...>;
#if defined(WEFT_HAS_STOP_TOKEN)
  if constexpr (detail::task_call<std::decay_t<F>, std::decay_t<Args>...>::with_token) {
    return enqueue_task<R>(
        [fn = std::forward<F>(f), ... bound = std::forward<Args>(args)](std::stop_token token) mutable -> R {
          return detail::invoke(std::move(fn), std::move(token), std::move(bound)...);
        });
  } else
#endif
  {
    return enqueue_task<R>(
        [fn = std::forward<F>(f), ... bound = std::forward<Args>(args)]() mutable -> R {
          return detail::invoke(std::move(fn), std::move(bound)...);
        });
  }
}

template <class F, class... Args>
void thread_pool::post(F&& f, Args&&... args) {
  auto report_escape = [this](auto&& run) {
    try {
      run();
    } catch (...) {
      report(std::current_exception());
    }
  };
#if defined(WEFT_HAS_STOP_TOKEN)
  if constexpr (detail::task_call<std::decay_t<F>, std::decay_t<Args>...>::with_token) {
    post_state([report_escape, fn = std::forward<F>(f),
                ... bound = std::forward<Args>(args)](std::stop_token token) mutable {
      report_escape([&] { detail::invoke(std::move(fn), std::move(token), std::move(bound)...); });
    });
  } else
#endif
  {
    post_state([report_escape, fn = std::forward<F>(f), ... bound = std::forward<Args>(args)]() mutable {
      report_escape([&] { detail::invoke(std::move(fn), std::move(bound)...); });
    });
  }
}

template <class Task>
void thread_pool::post_state(Task&& task) {
  auto* state = new_state<void>(std::forward<Task>(task), 1);  // the queue's reference only
  try {
    enqueue(state);
  } catch (...) {
    state->cancel();
    state->release();
    throw;
  }
}

// The task's state; a stoppable task also gets the pool's stop token.
template <class R, class F>
detail::shared_state<R>* thread_pool::new_state(F&& task, std::uint32_t refs) {
  using task_t = detail::task_state<std::decay_t<F>, R>;
#if defined(WEFT_HAS_STOP_TOKEN)
  if constexpr (detail::takes_stop_token<std::decay_t<F>>)
    return new task_t(std::forward<F>(task), this, refs, stop_all_.get_token());
#endif
  return new task_t(std::forward<F>(task), this, refs);
}

template <class R, class F>
future<R> thread_pool::enqueue_task(F&& task) {
  auto* state = new_state<R>(std::forward<F>(task), 2);  // the future's and the queue's
  auto result = detail::future_access::make<R>(state);
  try {
    enqueue(state);
  } catch (...) {
    state->cancel();
    state->release();  // the queue's reference; the future's goes with `result`
    throw;
  }
  return result;
}

inline void thread_pool::enqueue(detail::state_base* task) {
  worker_context* ctx = current();
  const bool on_worker = ctx != nullptr && ctx->pool == this;
  if (on_worker && ctx->credit > 0) {
    // outstanding_ already counts one retired entry for us: it covers this
    // one, and stays > 0 until it is retired and the credit returned, so
    // shutdown() cannot finish its wait in between.
    --ctx->credit;
  } else {
    // (S1) seq_cst: Dekker with shutdown(): either shutdown's wait sees this
    // increment, or we see closed_ and back out.
    outstanding_.fetch_add(1, std::memory_order_seq_cst);
  }
  if (closed_.load(std::memory_order_seq_cst) || broken_.load(std::memory_order_acquire)) {  // (S2)
    if (on_worker) finish_entry(*ctx); else finish_entry();
    if (broken_.load(std::memory_order_acquire)) throw pool_broken(broken_reason_);
    throw pool_closed("weft::thread_pool: submit after shutdown()");
  }
  if (on_worker) {
    try {
      workers_[ctx->index]->deque.push(task);  // stays local: LIFO for us, stolen FIFO
    } catch (...) {  // the ring could not grow (bad_alloc): the entry never existed
      finish_entry(*ctx);
      throw;
    }
  } else {
    injected_.push(task);
  }
  notify_one_worker();
}

// Wakes a sleeping worker, if any, after a task was published. Protocol
// with the sleeper's await(): the publisher (N1) makes the task visible,
// then (N2) reads work_signal_.sleepers; the sleeper (W1) raises sleepers,
// issues asymmetric_fence::heavy(), then (W2) re-checks has_work() with
// seq_cst loads. Either N1 is visible to W2 (the sleeper sees the task and
// does not sleep) or W1 is to N2 (we see the sleeper and wake it):
// - a worker's push (N1: the deque's release store of bottom_, then
//   asymmetric_fence::light()) pairs light() with the sleeper's heavy(), so
//   the hot path has no locked instruction (membarrier; see
//   asymmetric_fence). Under ThreadSanitizer the store is seq_cst and the
//   argument is the next one, which TSan checks as written;
// - an outside submission (N1: the injection queue's seq_cst pushed_ RMW)
//   pairs by the single total order of seq_cst operations (the sleeper's
//   W1 and W2 are seq_cst, and heavy() adds a full fence between them).
// The sleeper count's line is only read here, never written, so
// submitters on different workers do not bounce it.
inline void thread_pool::notify_one_worker() noexcept {
  if (work_signal_.sleepers.load(std::memory_order_seq_cst) == 0) return;
  work_signal_.bump_and_wake(1);
}

inline detail::state_base* thread_pool::pop_injected() {
  // Every node in injected_ is a state_base (only enqueue() pushes).
  return static_cast<detail::state_base*>(injected_.pop());
}

inline detail::state_base* thread_pool::steal(std::size_t self) {
  const std::size_t n = workers_.size();
  for (std::size_t k = 1; k < n; ++k) {
    if (auto* task = workers_[(self + k) % n]->deque.steal()) return task;
  }
  return nullptr;
}

// Local deque first (hot, LIFO), then the shared FIFO, then the others.
// One task at a time from the shared FIFO: tasks submitted from outside
// start in submission order on every worker (a worker that took a batch
// would start its batch's tail before the next worker's head, and a FIFO
// pool's programs can depend on that order). `from_deque`: whether the
// task came from a deque (ours or stolen) rather than the shared FIFO.
inline detail::state_base* thread_pool::find_work(std::size_t self, bool& from_deque) {
  from_deque = true;
  if (auto* task = workers_[self]->deque.pop()) return task;
  from_deque = false;
  if (auto* task = pop_injected()) return task;
  from_deque = true;
  return steal(self);
}

// An idle worker's short wait before it sleeps: spin_limit relaxed spins,
// then yield_limit yields (as every weft waiter), each round looking at the
// shared queue and one other worker's deque, in turn. O(1) per round: a
// round that scanned every deque made 256 idle workers on 2 cores spend
// ~90% of their cycles in has_work(). A push this misses is not lost: the
// sleep that follows re-checks every queue after the handshake (W2).
// With more workers than CPUs, a worker whose last task came from the
// shared queue (submissions from outside: a server's request, a
// submit().get() round trip) sleeps at once: its spin and yields would take
// the CPU from the one thread that has work (256 such workers on 2 cores
// made a round trip 50x slower than a mutex + condvar pool). After a task
// from a deque (fork-join, where a steal is likely soon) it still spins,
// for the fixed rounds only. Otherwise (a worker per CPU at most) it keeps
// yielding until idle_spin_time passed: a caller that runs parallel_for or
// post + wait in a loop comes back within tens of microseconds, and a
// worker asleep by then costs a futex wake-up (an inter-processor
// interrupt, slow on a VM) per worker per call: the 10M-int parallel_for
// took ~2.4 ms against ~2.0 ms with the longer spin (2 workers, quiet VM).
// A yield hands the CPU to any other runnable thread, so the spin costs
// others little.
// True when work (or the pool's stop) was seen.
inline bool thread_pool::idle_spin(std::size_t self, bool after_local_work) const noexcept {
  if (oversubscribed_ && !after_local_work) return false;
  const std::size_t n = workers_.size();
  std::size_t victim = self;
  const auto give_up_at = std::chrono::steady_clock::now() + idle_spin_time;
  for (int round = 0;; ++round) {
    // relaxed: a hint; the worker loop re-reads stopping_ (acquire) and the queues.
    if (injected_.size() != 0 || stopping_.load(std::memory_order_relaxed)) return true;
    if (++victim == n) victim = 0;
    if (!workers_[victim]->deque.empty()) return true;
    if (round < detail::spin_limit) {
      detail::cpu_relax();
      continue;
    }
    std::this_thread::yield();
    // The clock is read every 16th round past the fixed ones: a cheap vDSO call, but not free.
    if (round >= detail::spin_limit + detail::yield_limit && round % 16 == 0 &&
        (oversubscribed_ || std::chrono::steady_clock::now() >= give_up_at))
      return false;
  }
}

inline bool thread_pool::has_work() const noexcept {
  if (injected_.size() != 0) return true;
  for (auto& w : workers_)
    if (!w->deque.empty()) return true;
  return false;
}

// Runs (or, while cancelling, cancels) one queue entry and retires it. An
// entry whose task was already run inline by a waiting worker, or was
// cancelled, is only retired. The entry's reference is dropped here, or,
// for a task run here, by its completion (one RMW for both).
inline void thread_pool::execute(detail::state_base* task, worker_context& ctx) noexcept {
  if (cancelling_.load(std::memory_order_acquire)) {
    task->cancel();
  } else if (task->try_claim()) {
    if (!broken_.load(std::memory_order_acquire)) {  // acquire: pairs with mark_broken(); broken_reason_ is set
      run_nested(task, ctx, detail::state_base::on_complete::release_ref);
      finish_entry(ctx);
      return;
    }
    task->fail_claimed(std::make_exception_ptr(pool_broken(broken_reason_)));
  }
  task->release();
  finish_entry(ctx);
}

// Retires a queue entry without running it (shutdown(cancel_pending)).
inline void thread_pool::discard(detail::state_base* task) noexcept {
  task->cancel();
  task->release();
  finish_entry();
}

// Runs a claimed task one level deeper on this worker's stack. Its deque
// mark (floor) is where its own subtasks will start; its placement word
// tells waiters on other workers where to leapfrog. `ref`: whether the
// caller's reference goes with the completion (see state_base::complete).
inline void thread_pool::run_nested(detail::state_base* task, worker_context& ctx,
                                    detail::state_base::on_complete ref) noexcept {
  auto& self = *workers_[ctx.index];
  const std::int64_t outer_floor = ctx.floor;
  ctx.floor = self.deque.bottom_index();
  ++ctx.depth;
  task->set_placement(placement_of(ctx.index, ctx.floor));
  // relaxed: a statistic for running(); only this worker writes it.
  self.busy.store(self.busy.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // The completion clears the placement, before this worker pushes anything
  // else: a leapfrogging thief that steals a later push synchronizes with
  // it and sees the clear. `task` may be gone once this returns.
  task->run_claimed(ref);
  self.busy.store(self.busy.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  --ctx.depth;
  ctx.floor = outer_floor;
}

inline void thread_pool::finish_entry() noexcept { retire(1); }

// Subtracts n retired entries; the last one wakes wait() and shutdown().
inline void thread_pool::retire(std::size_t n) noexcept {
  // acq_rel: the retired tasks' effects happen before wait()/shutdown() return.
  if (outstanding_.fetch_sub(n, std::memory_order_acq_rel) == n) idle_signal_.bump_and_wake();
}

// Retires one entry on a worker: kept as credit (see outstanding_).
inline void thread_pool::finish_entry(worker_context& ctx) noexcept {
  if (++ctx.credit >= credit_limit) return_credit(ctx);
}

inline void thread_pool::return_credit(worker_context& ctx) noexcept {
  if (ctx.credit == 0) return;
  retire(std::exchange(ctx.credit, 0));
}

// `name-N`, shortened to the 15 characters Linux allows by cutting the
// name, never the index: every worker keeps a distinct name.
inline std::string thread_pool::thread_name(const std::string& name, std::size_t index) {
  char suffix[24];
  int n = std::snprintf(suffix, sizeof suffix, "-%zu", index);
  constexpr std::size_t limit = 15;
  const auto suffix_size = std::min<std::size_t>(static_cast<std::size_t>(n), limit);
  std::string result(name, 0, std::min(name.size(), limit - suffix_size));
  result.append(suffix, suffix_size);
  return result;
}

inline void thread_pool::worker_main(std::size_t index) {
  worker_context context{this, index};
  context.stack_limit = detail::stack_soft_limit();
  current() = &context;
  detail::current_executor() = this;
#if defined(__linux__)
  pthread_setname_np(pthread_self(), thread_name(options_.name, index).c_str());
#elif defined(__APPLE__)
  pthread_setname_np(thread_name(options_.name, index).c_str());
#endif
  if (options_.initializer) {
    try {
      options_.initializer(index);
    } catch (...) {
      mark_broken(std::current_exception());
    }
  }
  bool after_local_work = false;  // the last task came from a deque (see idle_spin)
  for (;;) {
    bool from_deque = false;
    if (auto* task = find_work(index, from_deque)) {
      after_local_work = from_deque;
      execute(task, context);
      continue;
    }
    return_credit(context);  // out of work: let wait() and shutdown() see it
    if (stopping_.load(std::memory_order_acquire)) break;
    if (has_work()) {  // lost a steal race, or a push is half done: retry soon
      std::this_thread::yield();
      continue;
    }
    if (idle_spin(index, after_local_work)) continue;  // work showed up while we spun
    std::uint32_t seen = work_signal_.value.load(std::memory_order_seq_cst);
    // heavy() between W1 (sleepers += 1) and W2 (has_work()): the rare side
    // of the handshake with a worker's push (see notify_one_worker). The
    // full O(workers) scan runs only here, once per sleep; the spin before
    // (idle_spin) is O(1) per round, so that hundreds of idle workers on a
    // few cores do not spend their time scanning each other's deques.
    work_signal_.await([seen](std::uint32_t v) { return v != seen; },
                       [this] { return has_work() || stopping_.load(std::memory_order_seq_cst); },
                       sleep_policy(), [] { return detail::asymmetric_fence::heavy(); }, /*spin=*/false);
  }
  detail::current_executor() = nullptr;
  current() = nullptr;
}

// The waiting worker's loop: run one piece of safe work at a time, checking
// the wait between pieces; with nothing safe to run, nap (awaited tasks may
// still spawn subtasks to leapfrog) or, when no awaited task runs on this
// pool, sleep until the wait makes progress.
inline bool thread_pool::help_while_waiting(const detail::wait_request& request) {
  worker_context& ctx = *current();
  if (request.joins) {
    // The task running in this frame depends on the awaited ones: say so,
    // so that a waiter for that task may leapfrog them (see help_once (3)).
    for (auto* a : request.awaited) a->mark_joined(placement_of(ctx.index, ctx.floor));
  }
  auto nap = min_help_nap;
  for (;;) {
    if (request.satisfied()) return true;
    if (may_nest(ctx) && help_once(ctx, request.awaited)) {
      nap = min_help_nap;
      continue;
    }
    return_credit(ctx);  // about to sleep: let wait() and pending() see our retired entries
    bool may_spawn_here = false;
    for (auto* a : request.awaited)
      if (a->owner() == this && !a->done()) may_spawn_here = true;
    if (!may_spawn_here) {
      request.park(detail::wait_policy::forever());
      continue;
    }
    request.park(detail::wait_policy::for_(nap));
    nap = std::min<std::chrono::microseconds>(nap * 2, max_help_nap);
  }
}

inline bool thread_pool::may_nest(const worker_context& ctx) const noexcept {
  if (ctx.stack_limit == 0) return ctx.depth < max_help_depth_unknown_stack;
  return ctx.depth < max_help_depth && WEFT_CURRENT_STACK_ADDRESS() > ctx.stack_limit;
}

// Runs one task that cannot wait on the waiter; false when there is none.
inline bool thread_pool::help_once(worker_context& ctx, std::span<detail::state_base* const> awaited) {
  // (1) The waiting task's own subtasks (and theirs): above its deque mark,
  // newest first. In fork-join code the awaited task is usually the newest:
  // popping it (rather than claiming it in place) leaves no stale entry
  // behind to keep its state alive.
  if (auto* task = workers_[ctx.index]->deque.pop_above(ctx.floor)) {
    execute(task, ctx);
    return true;
  }
  // (2) An awaited task nobody started, queued elsewhere: run it here. Its
  // queue entry is retired (not run again) by whichever worker pops it.
  for (auto* a : awaited) {
    if (a->owner() == this && a->try_claim()) {
      run_nested(a, ctx, detail::state_base::on_complete::keep_ref);  // the waiter's future holds it
      return true;
    }
  }
  // (3) Leapfrogging: the subtasks of an awaited task `a` running on another
  // worker lie above a's mark in that worker's deque. Only a subtask that
  // `a` depends on is safe to run here: one joined by a waiter in a frame
  // at or above a's mark on that worker, which runs nested inside `a` (see
  // depends_on). Any other subtask (a consumer `a` posted, say) may wait
  // for this waiter: it goes back to the shared queue, as a FIFO pool
  // would have queued it.
  for (auto* a : awaited) {
    if (a->owner() != this) continue;
    const std::uint64_t where = a->placement();
    if (where == 0) continue;
    const std::size_t victim = static_cast<std::size_t>(where & 0xffff) - 1;
    if (victim == ctx.index || victim >= workers_.size()) continue;
    auto* task = workers_[victim]->deque.steal_above(static_cast<std::int64_t>(where >> 16));
    if (task == nullptr) continue;
    // The mark is valid only while `a` still runs there: the victim clears
    // the placement before it pushes anything else, and our steal acquired
    // that push, so a changed placement means the task may be unrelated.
    if (a->placement() == where && depends_on(task, victim, static_cast<std::int64_t>(where >> 16))) {
      execute(task, ctx);
    } else {
      injected_.push(task);  // not ours to run here: back to the shared queue
      notify_one_worker();
    }
    return true;
  }
  return false;
}

inline void thread_pool::wait() {
  if (on_worker_thread())
    throw std::logic_error("weft::thread_pool::wait: called from a worker of the same pool (would wait for itself)");
  wait_until_idle();
}

inline void thread_pool::wait_until_idle() {
  for (;;) {
    std::uint32_t epoch = idle_signal_.value.load(std::memory_order_seq_cst);
    if (outstanding_.load(std::memory_order_seq_cst) == 0) return;  // (S3) pairs with S1
    idle_signal_.await([epoch](std::uint32_t v) { return v != epoch; },
                       detail::wait_policy::forever());
  }
}

inline void thread_pool::cancel_all_pending() {
  cancelling_.store(true, std::memory_order_release);  // workers cancel what they pop from now on
  while (auto* task = pop_injected()) discard(task);
  for (auto& w : workers_)
    while (auto* task = w->deque.steal()) discard(task);
}

inline void thread_pool::shutdown(shutdown_mode mode) {
  if (on_worker_thread())
    throw std::logic_error("weft::thread_pool::shutdown: called from a worker of the same pool (would wait for itself)");
  // A done callback of a task this shutdown cancels runs on this thread,
  // inside the call: if it calls shutdown() again, that call returns at once
  // (this one finishes the job) instead of locking shutdown_mutex_ twice.
  static thread_local const thread_pool* shutting_down_here = nullptr;
  if (shutting_down_here == this) return;
  const thread_pool* outer = std::exchange(shutting_down_here, this);
  struct restore {
    const thread_pool*& slot;
    const thread_pool* value;
    ~restore() { slot = value; }
  } restore_on_exit{shutting_down_here, outer};
  closed_.store(true, std::memory_order_seq_cst);  // (S4) pairs with S1/S2
  // Cancelling and stopping come before the lock: a drain already waiting
  // there is escalated at once (Python's cancel_futures=True), not after
  // it. Both are safe to repeat and to run concurrently with a drain (the
  // queues are MPMC-safe for takers; each entry is retired once).
  if (mode != shutdown_mode::drain) cancel_all_pending();
#if defined(WEFT_HAS_STOP_TOKEN)
  if (mode == shutdown_mode::cancel_all) stop_all_.request_stop();
#endif
  std::lock_guard lock(shutdown_mutex_);
  if (joined_) return;
  wait_until_idle();
  stopping_.store(true, std::memory_order_seq_cst);
  work_signal_.bump_and_wake();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  joined_ = true;
}

// Counts what sits in the queues, not outstanding_ - running(): outstanding_
// also holds the entries that workers retired but keep as credit.
inline std::size_t thread_pool::pending() const noexcept {
  std::size_t queued = injected_.size();
  for (auto& w : workers_) queued += w->deque.size();
  return queued;
}

inline std::size_t thread_pool::running() const noexcept {
  std::size_t n = 0;
  for (auto& w : workers_) n += w->busy.load(std::memory_order_relaxed);
  return n;
}

inline void thread_pool::mark_broken(std::exception_ptr initializer_error) noexcept {
  std::lock_guard lock(broken_mutex_);
  if (broken_.load(std::memory_order_relaxed)) return;  // the first failure names the pool's state
  try {
    std::rethrow_exception(initializer_error);
  } catch (const std::exception& e) {
    broken_reason_ = "weft::thread_pool: a worker's initializer threw: ";
    broken_reason_ += e.what();
  } catch (...) {
    broken_reason_ = "weft::thread_pool: a worker's initializer threw a non-standard exception";
  }
  broken_.store(true, std::memory_order_release);
}

inline void thread_pool::report(std::exception_ptr error) noexcept {
  if (options_.error_handler) {
    try {
      options_.error_handler(error);
      return;
    } catch (...) {
      std::fprintf(stderr, "weft::thread_pool: the error handler itself threw\n");
    }
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft::thread_pool: a posted task threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "weft::thread_pool: a posted task threw a non-std exception\n");
  }
  std::terminate();
}

// Runs run_part(k) for every k in [0, parts) and returns once all have
// finished. The parts are claimed one at a time, in order, from a shared
// counter by up to size() helper tasks (one submission and at most one
// wake-up per worker, not one per part), and by the caller itself when it is
// one of this pool's workers. A caller outside the pool sleeps instead: it
// would be one thread more than the workers the pool was sized for. Nothing
// here outlives the call: it waits for every helper that started and
// cancels the rest. Rethrows the failure of the lowest failing part after
// every part finished; throws pool_closed after shutdown() (at once when
// it began before the call; when it began during the call, once the
// helpers submitted before it finished, which may have run every part),
// and weft::cancelled if shutdown(cancel_pending) cancelled the helpers
// before they claimed every part.
template <class RunPart>
void thread_pool::run_parts(std::size_t parts, RunPart run_part) {
  if (parts == 0) return;
  if (closed_.load(std::memory_order_acquire)) throw pool_closed("weft::thread_pool: parallel_for/map after shutdown()");
  detail::part_claims claims(parts);
  const bool caller_claims = on_worker_thread();
  const std::size_t helpers = std::min(parts, size()) - (caller_claims ? 1 : 0);  // the caller is one of both
  std::vector<future<void>> helping;
  helping.reserve(helpers);
  std::exception_ptr submit_error;
  try {
    for (std::size_t h = 0; h < helpers; ++h) helping.push_back(submit([&claims, &run_part] { claims.work(run_part); }));
  } catch (...) {
    submit_error = std::current_exception();
  }
  if (helping.empty() && submit_error) std::rethrow_exception(submit_error);  // nothing was claimed
  if (caller_claims) {
    // Each part runs one level up, as a nested task would (run_nested): a
    // part that waits helps only with what lies above its own mark, never
    // with the helpers pushed below it, which would run sibling parts
    // nested inside it on this thread (a part holding a lock while it
    // waits would then deadlock against itself).
    worker_context& ctx = *current();
    const std::int64_t outer_floor = ctx.floor;
    auto run_part_above = [&](std::size_t k) {
      ctx.floor = workers_[ctx.index]->deque.bottom_index();
      run_part(k);
    };
    claims.work(run_part_above);
    ctx.floor = outer_floor;
    // Every part is claimed now. A helper that has not started would only
    // find nothing left: cancel it rather than wait for a worker to reach it.
    for (auto& helper : helping) helper.cancel();
  }
  for (auto& helper : helping) helper.wait();
  claims.rethrow_first_failure();
  if (submit_error) std::rethrow_exception(submit_error);
  if (!claims.all_claimed()) {
    // A helper's future holds no part's exception (work() keeps those):
    // only the pool's own verdict on it, pool_broken or cancelled.
    for (auto& helper : helping) helper.get();
    throw cancelled("weft::thread_pool: shutdown(cancel_pending) cancelled parallel_for/map");
  }
}

template <std::integral First, std::integral Last, class F>
void thread_pool::parallel_for(First first_given, Last last_given, F&& f, std::size_t grain) {
  using Index = std::common_type_t<First, Last>;  // at least as wide as both: only a sign can be lost
  if constexpr (std::is_unsigned_v<Index>) {
    if (detail::negative(first_given) || detail::negative(last_given))
      throw std::invalid_argument(
          "weft::thread_pool::parallel_for: first or last is negative, but the common type of first and last is "
          "unsigned; pass both as one signed type");
  }
  const auto first = static_cast<Index>(first_given), last = static_cast<Index>(last_given);
  if (!(first < last)) return;
  // Offsets from `first` in the unsigned type of the index's width: the
  // distance of any valid range fits there (last - first in Index would
  // overflow for a signed range wider than its maximum).
  using offset = std::make_unsigned_t<std::common_type_t<Index, int>>;
  const auto count = static_cast<offset>(static_cast<offset>(last) - static_cast<offset>(first));
  // Sizes in the wider of offset and size_t: an __int128 range (gnu++20)
  // may hold more than 2^64 indices, a grain more than a short's range.
  using wide = std::common_type_t<offset, std::size_t>;
  const wide want = grain != 0 ? wide{grain} : default_chunk(wide{count});
  const auto chunk = static_cast<offset>(std::min<wide>(want, count));
  const wide parts = count / chunk + (count % chunk != 0 ? 1 : 0);
  if constexpr (sizeof(wide) > sizeof(std::size_t))
    if (parts > std::numeric_limits<std::size_t>::max())
      throw std::length_error("weft::thread_pool::parallel_for: more than SIZE_MAX parts; pass a larger grain");
  run_parts(static_cast<std::size_t>(parts), [&f, first, count, chunk](std::size_t k) {
    const offset begin = static_cast<offset>(k) * chunk;
    const offset end = count - begin > chunk ? begin + chunk : count;
    // Index + offset, wrapped in the unsigned type, is the exact index.
    for (offset i = begin; i != end; ++i) f(static_cast<Index>(static_cast<offset>(first) + i));
  });
}

template <bool Ordered, class F, class Range>
auto thread_pool::streaming_map(F f, Range&& input, map_options options) {
  using item = std::ranges::range_value_t<Range>;
  using R = std::invoke_result_t<F&, item&&>;
  static_assert(!std::is_void_v<R>,
                "weft::thread_pool::imap: use parallel_for or submit for an f that returns void (imap yields "
                "f's results)");
  if constexpr (std::is_void_v<R>) {
    return std::vector<int>{};  // the static_assert above is the one error (no imap_range<void>)
  } else {
    if (closed_.load(std::memory_order_acquire)) throw pool_closed("weft::thread_pool::imap: after shutdown()");
    auto submit_chunk = [this, fn = std::make_shared<F>(std::move(f))](std::vector<item>&& chunk) {
      return submit([fn, items = std::move(chunk)]() mutable { return detail::run_chunk<R>(*fn, items); });
    };
    const std::size_t chunksize = options.chunksize != 0 ? options.chunksize : 1;
    const std::size_t buffersize = options.buffersize != 0 ? options.buffersize : 2 * size();
    return detail::imap_range<Range, R, decltype(submit_chunk), Ordered>(
        std::forward<Range>(input), std::move(submit_chunk), chunksize, buffersize);
  }
}

template <class F, std::ranges::input_range Range>
auto thread_pool::imap(F f, Range&& input, map_options options) {
  return streaming_map<true>(std::move(f), std::forward<Range>(input), options);
}

template <class F, std::ranges::input_range Range>
auto thread_pool::imap_unordered(F f, Range&& input, map_options options) {
  return streaming_map<false>(std::move(f), std::forward<Range>(input), options);
}

template <std::ranges::forward_range Range, class F>
auto thread_pool::map(F&& f, Range&& items, std::size_t chunk)
    -> detail::map_result_t<std::invoke_result_t<F&, std::ranges::range_reference_t<detail::map_input_t<Range>>>> {
  using input_t = detail::map_input_t<Range>;
  using R = std::invoke_result_t<F&, std::ranges::range_reference_t<input_t>>;
  static_assert(!std::is_void_v<R>,
                "weft::thread_pool::map: use parallel_for or submit for an f that returns void (map collects "
                "f's results)");
  static_assert(!detail::endless_range<input_t>,
                "weft::thread_pool::map: the range never ends; stream it with imap or imap_unordered");
  if constexpr (std::is_void_v<R> || detail::endless_range<input_t>) {
    return {};  // the static_assert above is the one error
  } else {
    input_t input = items;
    using iterator = std::ranges::iterator_t<input_t>;
    const std::size_t count = detail::range_length(input);
    if (chunk == 0) chunk = default_chunk(count);
    // Chunk boundaries up front (a forward range is walked once).
    std::vector<iterator> bounds;
    bounds.reserve(count / chunk + 2);
    iterator it = std::ranges::begin(input);
    for (std::size_t begin = 0; begin < count; begin += chunk) {
      bounds.push_back(it);
      it = detail::advanced(it, static_cast<std::iter_difference_t<iterator>>(std::min(chunk, count - begin)));
    }
    bounds.push_back(it);
    // One output per part, each written by the part's claimer only.
    std::vector<std::vector<R>> outputs(bounds.size() - 1);
    run_parts(outputs.size(), [&f, &bounds, &outputs](std::size_t k) {
      std::vector<R>& out = outputs[k];
      for (iterator i = bounds[k]; i != bounds[k + 1]; ++i) out.push_back(f(*i));
    });
    std::vector<R> results;
    results.reserve(count);
    for (auto& out : outputs)
      for (auto&& r : out) results.push_back(std::move(r));  // auto&&: vector<bool>'s proxy
    return results;
  }
}

}  // namespace weft
