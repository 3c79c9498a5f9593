// weft — MIT licence. See LICENSE.
//
// <weft/detail/shared_state.hpp> — internal: the one allocation behind a
// weft::future. A task's state holds its callable, its result, its waiters'
// futex word and its done callbacks; pools queue pointers to it. Not API.
#pragma once

#include <weft/detail/block_cache.hpp>
#include <weft/detail/config.hpp>
#include <weft/detail/function_ref.hpp>
#include <weft/detail/injection_queue.hpp>
#include <weft/detail/wait.hpp>
#include <weft/error.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <span>
#if defined(WEFT_HAS_STOP_TOKEN)
#include <stop_token>
#endif
#include <type_traits>
#include <utility>
#include <variant>

namespace weft::detail {

class state_base;

// A wait on one or more task states, as a waiting worker's executor sees it.
struct wait_request {
  std::span<state_base* const> awaited;                 // the states waited on (this executor's)
  function_ref<bool()> satisfied;                       // true: the wait is over
  function_ref<bool(const wait_policy&)> park;          // sleeps until progress or the policy ends
  // True when the wait ends only once every awaited task is done (a single
  // future's get()/wait() without deadline): then the waiter depends on
  // each of them, which the executor may record (state_base::mark_joined).
  bool joins = false;
};

// What a future needs from the executor that runs its task: a worker of that
// executor that waits runs, instead of sleeping, only work that cannot wait
// on it (the awaited tasks, the tasks they spawned, the tasks the waiter
// spawned), so that waiting inside a task neither deadlocks nor nests
// without bound.
//
// The hook is a function pointer the executor's constructor sets, not a
// virtual function: a class whose virtual functions are all inline has its
// vtable, and so every function it names, compiled in each translation unit
// that includes its header; a pointer stored by an inline constructor costs
// code only where that constructor is used.
class executor_hooks {
 public:
  // Called on a worker of this executor with a policy that has no deadline
  // (timed waits never run other tasks: they sleep, so they end on time).
  // Returns when request.satisfied(); true.
  bool help_while_waiting(const wait_request& request) { return help_(this, request); }
  // A race (a wait that ends at the first of several completions:
  // first_completed, first_exception, as_completed, when_any) never calls
  // help_while_waiting: helping would run a racer (or a subtask) on the
  // waiter's stack until it ends, even when another racer, maybe on
  // another pool, would have ended the wait first, and a losing racer may
  // wait for what the waiter does next (stop the losers). Whether a task
  // cannot wait on the waiter is unknowable there, so a race sleeps, as a
  // FIFO pool's waiter does, on every pool size.

 protected:
  using help_function = bool (*)(executor_hooks* self, const wait_request& request);
  explicit executor_hooks(help_function help) noexcept : help_(help) {}
  ~executor_hooks() = default;

 private:
  help_function help_;  // set once by the executor's constructor
};

// The executor whose worker the calling thread is; null on other threads.
// Set by the executor for the lifetime of each of its workers.
inline executor_hooks*& current_executor() noexcept {
  static thread_local executor_hooks* executor = nullptr;
  return executor;
}

// Reports an exception that escaped a done callback (Python logs these too).
inline void report_callback_error(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft: a future's done callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "weft: a future's done callback threw a non-std exception\n");
  }
}

// Reference-counted, type-erased task state.
//
// word_: one 64-bit atomic holding the status, two flags and the reference
// count, so that each step of a task's life is one read-modify-write: the
// claim, and the completion together with the drop of the runner's
// reference. Waiters sleep on its low 32 bits (a futex word, see low_half).
//   bits 0-2    status:
//     pending     initial; set at construction
//     running     set by the thread whose claim CAS wins (try_claim)
//     cancelling  set by the cancel CAS winner, from pending; it destroys the
//                 callable, then publishes cancelled (not final: waiters
//                 sleep on, so the captures are gone before they wake)
//     succeeded   set by the runner (or a promise-style completer) after the value
//     failed      set after the exception_ptr
//     cancelled   set by the cancel CAS winner, from cancelling; or by the
//                 completer of a claimed remote task that no worker ran
//   bit 3       has_waiters: set by a thread about to sleep in park(), never
//               cleared; tells the completer to futex_wake
//   bit 4       has_callbacks: set by add_done_callback after it linked its
//               node, never cleared; tells the completer to run the list
//   bits 32-63  references (the future's, the queue entry's, state_refs')
// Legal status transitions: pending -> running -> {succeeded, failed};
// pending -> cancelling -> cancelled; pending -> {succeeded, failed}
// (completers without a callable); running -> cancelled (cancel_claimed).
// Final states (succeeded and above) never change.
// Every change of word_ is an RMW, and RMWs on one location are totally
// ordered (each reads the value the previous one wrote), which is the whole
// wake-up protocol: a waiter's (W1) fetch_or(has_waiters) either precedes
// the completer's (C1) CAS, which then sees the flag and wakes, or follows
// it and returns the final status. Likewise for (A2) has_callbacks.
// A state is its own injection-queue node (intrusive), so queuing a task
// allocates nothing; a pool's injection queue holds only states, which is why
// the pool may cast what it pops back down to state_base.
class state_base : public queue_node {
 public:
  // Final states are the ones >= succeeded (done()).
  enum status : std::uint32_t { pending = 0, running = 1, cancelling = 2, succeeded = 3, failed = 4, cancelled = 5 };
  // What a completion does with the completer's own reference.
  enum class on_complete : bool {
    keep_ref,     // the completer holds no reference of its own, or keeps it
    release_ref,  // the completer's reference is dropped with the completion
  };

  state_base(const state_base&) = delete;
  state_base& operator=(const state_base&) = delete;

  // States are allocated by submitters and freed by workers: recycle their
  // memory across threads (see block_cache). The destructor is virtual, so
  // `delete this` passes the most-derived size.
  static void* operator new(std::size_t bytes) { return block_cache::allocate(bytes); }
  static void operator delete(void* p, std::size_t bytes) noexcept { block_cache::deallocate(p, bytes); }
  // Over-aligned tasks (an alignas(64) capture or result) bypass the cache,
  // whose blocks have only the default new alignment.
  static void* operator new(std::size_t bytes, std::align_val_t align) { return ::operator new(bytes, align); }
  static void operator delete(void* p, std::size_t bytes, std::align_val_t align) noexcept {
    (void)bytes;
    ::operator delete(p, align);  // the unsized form: clang declares sized delete only with -fsized-deallocation
  }

  // Only an owner of a reference adds one.
  void add_ref() noexcept { word_.fetch_add(one_ref, std::memory_order_relaxed); }
  void release() noexcept {
    // A sole owner needs no RMW: only owners add references, so a count of
    // 1 read by an owner stays 1. acquire: pairs with the release RMWs of
    // the other owners' drops (C1, or below), so their uses happen before
    // the delete. (The common case: get() on a finished task.)
    if (refs_of(word_.load(std::memory_order_acquire)) == 1) {
      delete this;
      return;
    }
    // acq_rel: every owner's last use happens before the deleting thread's delete.
    if (refs_of(word_.fetch_sub(one_ref, std::memory_order_acq_rel)) == 1) delete this;
  }

  std::uint32_t load_status() const noexcept { return status_of(word_.load(std::memory_order_acquire)); }
  bool done() const noexcept { return load_status() >= succeeded; }

  // Claims the task (pending -> running) for running it; false when another
  // runner or cancel() won, or for a state completed by hand.
  bool try_claim() noexcept {
    if (!runnable_) return false;
    if (claim_as_sole_owner()) return true;
    std::uint64_t before;
    // acquire: pairs with the release that queued us (the callable is built).
    return leave_pending(running, before, std::memory_order_acquire);
  }
  // Runs a claimed task and completes it; the callable is destroyed before
  // completion. With on_complete::release_ref the caller's reference goes
  // with the completion: the state may be gone when this returns.
  void run_claimed(on_complete ref) noexcept {
    WEFT_ASSERT(load_status() == running, "run_claimed() without try_claim()");
    invoke_and_complete(ref);
  }

  // Where a running task runs, for executors whose waiting workers help with
  // its subtasks: an executor-defined word, 0 when unknown or not running.
  // Written by the runner after try_claim() and cleared by complete(), so
  // before the runner runs anything else; release/acquire so the reader
  // sees the word's meaning.
  void set_placement(std::uint64_t where) noexcept { placement_.store(where, std::memory_order_release); }
  std::uint64_t placement() const noexcept { return placement_.load(std::memory_order_acquire); }

  // Who depends on this task: an executor-defined word naming a
  // waiter that joined it (a wait_request with `joins`), 0 when none. Set
  // by the first joiner (one of them, when joiners race), a waiter on a
  // worker of the owning executor, before it sleeps or helps; never cleared: a joining wait returns only once the task is
  // done, so while the task has not run, its joiner still waits for it.
  // relaxed: a reader that misses the mark only helps less; the word's
  // meaning does not depend on other memory. A load and a store, not a
  // CAS (a locked instruction on every get() in fork-join code): when two
  // joiners race, either word may stay, and either is true (each of them
  // waits until the task is done).
  void mark_joined(std::uint64_t joiner) noexcept {
    if (joined_.load(std::memory_order_relaxed) == 0) joined_.store(joiner, std::memory_order_relaxed);
  }
  std::uint64_t joined() const noexcept { return joined_.load(std::memory_order_relaxed); }

  // Asks a task that takes a std::stop_token to stop (a pending one sees
  // the request when it starts). True when the task had not finished.
  bool request_stop() noexcept {
    if (done()) return false;
    stop_requested_by_user();
    return true;
  }

  // Cancels the task if it has not started: its callable (and captures) is
  // destroyed first, then the state reports cancelled and waiters wake.
  // True when cancelled on return, or when a concurrent cancel() is about
  // to publish it.
  bool cancel() noexcept {
    std::uint64_t before;
    // acquire: pairs with the release that queued us (we destroy the
    // callable). The final status is published by complete()'s C1.
    if (leave_pending(cancelling, before, std::memory_order_acquire)) {
      destroy_callable();
      complete(cancelled, on_complete::keep_ref);
      return true;
    }
    if (status_of(before) == cancelling) {
      // Another cancel() won and is destroying the captures: "cancelled as
      // the call returns" holds only once it published cancelled (C1),
      // which wakes this sleep. Bounded by the captures' destructors.
      park(wait_policy::forever());
      return true;
    }
    return status_of(before) == cancelled;
  }

  // A task its completer claimed (promise_state::start) but gave back unrun,
  // e.g. a process pool task still unread in the socket of a worker that was
  // killed: it ends cancelled, as if cancel() had won. Completer only.
  void cancel_claimed() noexcept {
    WEFT_ASSERT(load_status() == running, "cancel_claimed() on a task that is not claimed");
    complete(cancelled, on_complete::keep_ref);
  }

  // A claimed task that will never run (its pool is broken) fails with
  // `error`; its callable is destroyed unrun. Claimer only; keeps its reference.
  void fail_claimed(std::exception_ptr error) noexcept {
    WEFT_ASSERT(load_status() == running, "fail_claimed() on a task that is not claimed");
    destroy_callable();
    fail_with(std::move(error));
  }

  // Blocks until done or the policy expires; true when done. A worker of the
  // owning executor waiting without a deadline helps instead of sleeping
  // (see executor_hooks); a timed wait always sleeps.
  bool wait(const wait_policy& policy) {
    if (done()) return true;
    if (owner_ != nullptr && owner_ == current_executor() && policy.may_sleep() && !policy.has_deadline()) {
      state_base* self = this;
      auto satisfied = [this] { return done(); };
      auto sleep = [this](const wait_policy& p) { return park(p); };
      return owner_->help_while_waiting({std::span<state_base* const>(&self, 1), satisfied, sleep, /*joins=*/true});
    }
    return park(policy);
  }
  // Sleeps (after a short spin, then a few yields) until done or the policy
  // expires; true when done.
  bool park(const wait_policy& policy) {
    bool finished = false;
    auto stop = [&] { return (finished = done()) || !policy.may_sleep(); };
    if (spin_then_yield(policy, stop) == spin_outcome::stopped) return finished;
    for (;;) {
      // An expired deadline sleeps no more: return before W1, so that a
      // polling wait_for(0s) does not leave has_waiters set (the completer
      // would then pay a futex wake and the slow release).
      if (policy.expired()) return done();
      // (W1) acquire: a final status read here comes with the result. The
      // RMW is ordered with C1 (see word_): either C1 sees has_waiters and
      // wakes us, or we see the final status now.
      const std::uint64_t seen = word_.fetch_or(has_waiters, std::memory_order_acquire) | has_waiters;
      if (status_of(seen) >= succeeded) return true;
      // (W2) The kernel sleeps only while the low half still equals `seen`'s:
      // a completion between W1 and W2 fails the wait at once.
      if (!futex_wait(low_half(word_), static_cast<std::uint32_t>(seen), policy, futex_scope::process_private))
        return done();
    }
  }

  // Runs f() once the state is done: now, on this thread, if it already is;
  // otherwise on the completing thread. Exceptions from f are reported.
  template <class F>
  void add_done_callback(F&& f) {
    auto* node = new callback<std::decay_t<F>>(std::forward<F>(f));
    // Already done: run now, even if the completer is still running the
    // callbacks registered before (as Python's Future does).
    if (done()) {
      node->invoke_and_delete();
      return;
    }
    callback_node* head = callbacks_.load(std::memory_order_relaxed);
    do {
      if (head == closed_list()) {
        node->invoke_and_delete();
        return;
      }
      node->next = head;
      // (A1) release: publishes the node to take_callbacks()'s exchange.
    } while (!callbacks_.compare_exchange_weak(head, node, std::memory_order_release,
                                               std::memory_order_relaxed));
    // (A2) Announces the list to the completer, ordered with its C1 (see
    // word_): either C1 sees has_callbacks and the completer takes the list,
    // or we see the final status and take it ourselves. acq_rel: release
    // makes A1 happen before the completer's take; acquire pairs with C1.
    if (status_of(word_.fetch_or(has_callbacks, std::memory_order_acq_rel)) >= succeeded) take_callbacks();
  }

  executor_hooks* owner() const noexcept { return owner_; }

 protected:
  state_base(executor_hooks* owner, std::uint32_t refs, bool runnable) noexcept
      : word_(refs * one_ref + pending), owner_(owner), runnable_(runnable) {}

  // Moves pending -> running for a state completed by hand; false when it
  // was cancelled or another completer won.
  bool claim_for_completion() noexcept {
    std::uint64_t before;
    return leave_pending(running, before, std::memory_order_acq_rel);
  }
  virtual ~state_base() {
    // Callbacks never ran only if the state never completed (a promise-style
    // state abandoned); drop them without running.
    callback_node* n = callbacks_.load(std::memory_order_acquire);
    while (n != nullptr && n != closed_list()) {
      callback_node* following = n->next;
      delete n;
      n = following;
    }
  }

  // Runs the callable and completes the state (implemented by task_state).
  virtual void invoke_and_complete(on_complete ref) noexcept = 0;
  // Destroys the callable of a task that will never run.
  virtual void destroy_callable() noexcept = 0;
  // Forwards request_stop() to a task's stop source, if it has one.
  virtual void stop_requested_by_user() noexcept {}
  // Stores `error` as the result and completes (see fail_claimed).
  virtual void fail_with(std::exception_ptr error) noexcept = 0;

  // Publishes the final status, wakes waiters, runs callbacks; with
  // release_ref also drops the caller's reference.
  void complete(status final_status, on_complete ref) noexcept {
    WEFT_ASSERT(final_status >= succeeded, "complete() needs a final status");
    // Cleared before the completion: the runner runs nothing else before
    // it, and the state may be gone after it.
    placement_.store(0, std::memory_order_relaxed);
    std::uint64_t before = word_.load(std::memory_order_acquire);
    if (ref == on_complete::release_ref && before == one_ref + running) {
      // Our reference is the only one and nobody waits or registered a
      // callback: nobody can observe the final status (see
      // claim_as_sole_owner), so it is never published. acquire (above):
      // pairs with the other owners' release drops, for the delete.
      delete this;
      return;
    }
    std::uint64_t after;
    bool drop;
    do {
      // Nobody waits and no callback is registered: nothing is left to do
      // with the state after C1, so the reference goes in the same RMW.
      drop = ref == on_complete::release_ref && (before & (has_waiters | has_callbacks)) == 0;
      after = (before & ~status_mask) | final_status;
      if (drop) after -= one_ref;
      // (C1) release: the result (and placement's clear) happen before a
      // reader's acquire of the final status; acquire: pairs with the other
      // owners' drops, for the delete.
    } while (!word_.compare_exchange_weak(before, after, std::memory_order_acq_rel, std::memory_order_relaxed));
    if (drop) {
      if (refs_of(after) == 0) delete this;
      return;
    }
    after_completion(before);
    if (ref == on_complete::release_ref) release();
  }

 private:
  static constexpr std::uint64_t status_mask = 0x7;
  static constexpr std::uint64_t has_waiters = 0x8;
  static constexpr std::uint64_t has_callbacks = 0x10;
  static constexpr std::uint64_t one_ref = std::uint64_t{1} << 32;
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the task state's word must be lock-free");
  static std::uint32_t status_of(std::uint64_t word) noexcept { return static_cast<std::uint32_t>(word & status_mask); }
  static std::uint64_t refs_of(std::uint64_t word) noexcept { return word >> 32; }

  // CAS of the status pending -> `to`, keeping flags and count; false (and
  // no change) when the status was not pending. `before`: the word it saw.
  // A fire-and-forget task (post()) is owned by its queue entry alone: no
  // future, so nobody else can claim, cancel, wait on or watch it, and only
  // an owner can add a reference. Its runner then claims it with a plain
  // store rather than a CAS, and complete() skips the publishing CAS: two
  // read-modify-writes fewer per task. acquire: pairs with the release
  // drops of former owners (a future destroyed before the task ran).
  bool claim_as_sole_owner() noexcept {
    if (word_.load(std::memory_order_acquire) != one_ref + pending) return false;
    word_.store(one_ref + running, std::memory_order_relaxed);  // read by nobody else (see above)
    return true;
  }

  bool leave_pending(std::uint32_t to, std::uint64_t& before, std::memory_order order) noexcept {
    before = word_.load(std::memory_order_relaxed);
    do {
      if (status_of(before) != pending) return false;
    } while (!word_.compare_exchange_weak(before, before | to, order, std::memory_order_relaxed));
    return true;
  }

  // The completer's part after C1, given the word C1 replaced.
  void after_completion(std::uint64_t before) noexcept {
    if ((before & has_waiters) != 0) futex_wake(low_half(word_), INT32_MAX, futex_scope::process_private);
    if ((before & has_callbacks) != 0) take_callbacks();
  }

  struct callback_node {
    callback_node* next = nullptr;
    virtual void invoke_and_delete() noexcept = 0;
    virtual ~callback_node() = default;
  };
  template <class F>
  struct callback final : callback_node {
    explicit callback(F f) : fn(std::move(f)) {}
    void invoke_and_delete() noexcept override {
      try {
        fn();
      } catch (...) {
        report_callback_error(std::current_exception());
      }
      delete this;
    }
    F fn;
  };
  static callback_node* closed_list() noexcept {
    static struct sentinel final : callback_node {
      void invoke_and_delete() noexcept override {}
    } marker;
    return &marker;
  }

  // Closes the list and runs what it held, once: of several racing callers
  // (completer, adders at A2), the exchange gives the list to one.
  void take_callbacks() noexcept {
    // acquire: pairs with the release CAS (A1) in add_done_callback.
    callback_node* n = callbacks_.exchange(closed_list(), std::memory_order_acq_rel);
    if (n == closed_list()) return;
    // The list is newest-first; reverse it to run in registration order.
    callback_node* ordered = nullptr;
    while (n != nullptr) {
      callback_node* following = n->next;
      n->next = ordered;
      ordered = n;
      n = following;
    }
    while (ordered != nullptr) {
      callback_node* later = ordered->next;
      ordered->invoke_and_delete();
      ordered = later;
    }
  }

  std::atomic<std::uint64_t> word_;                  // status, flags, references: protocol above
  std::atomic<std::uint64_t> placement_{0};          // written by the runner only (see set_placement)
  std::atomic<std::uint64_t> joined_{0};             // set once by a joining waiter (see mark_joined)
  std::atomic<callback_node*> callbacks_{nullptr};   // Treiber stack; closed_list() once taken
  executor_hooks* const owner_;                      // may be null; used only by its own workers
  const bool runnable_;                              // false: completed by hand (promise_state)
};

// The result half: a value or an exception.
template <class T>
class shared_state : public state_base {
  // A result is destroyed after its state completed (by get(), or with the
  // state): a throw there would complete the state a second time.
  static_assert(std::is_void_v<T> || std::is_nothrow_destructible_v<T>,
                "weft::future<T>: the result type's destructor must not throw (declare it noexcept)");

 public:
  using value_type = T;
  using stored_type = std::conditional_t<std::is_void_v<T>, std::monostate, T>;


  // Reader side: valid only once done().
  std::exception_ptr exception() const noexcept {
    return load_status() == failed ? std::get<2>(result_) : nullptr;
  }
  stored_type take_value() {
    switch (load_status()) {
      case succeeded: return std::move(std::get<1>(result_));
      case failed: std::rethrow_exception(std::get<2>(result_));
      default: throw weft::cancelled();
    }
  }

 protected:
  using state_base::state_base;

  // Completion; the caller holds the state in `running`. `ref`: see complete().
  template <class... Args>
  void finish_with_value(on_complete ref, Args&&... args) {
    result_.template emplace<1>(std::forward<Args>(args)...);
    this->complete(succeeded, ref);
  }
  void finish_with_exception(std::exception_ptr error, on_complete ref) noexcept {
    result_.template emplace<2>(std::move(error));
    this->complete(failed, ref);
  }
  void fail_with(std::exception_ptr error) noexcept final {
    finish_with_exception(std::move(error), on_complete::keep_ref);
  }

 private:
  std::variant<std::monostate, stored_type, std::exception_ptr> result_;  // written before the final status
};

// A state completed by hand (when_all, when_any, a process pool's reader
// thread). The first set_* wins; later ones, and any after cancel(), are
// ignored and return false.
template <class T>
class promise_state final : public shared_state<T> {
 public:
  // `owner` lets a waiting worker of that executor help while it waits.
  explicit promise_state(executor_hooks* owner = nullptr, std::uint32_t refs = 1) noexcept
      : shared_state<T>(owner, refs, false) {}

  template <class... Args>
  bool set_value(Args&&... args) {
    if (!this->claim_for_completion()) return false;
    try {
      this->finish_with_value(state_base::on_complete::keep_ref, std::forward<Args>(args)...);
    } catch (...) {
      this->finish_with_exception(std::current_exception(), state_base::on_complete::keep_ref);
    }
    return true;
  }
  bool set_exception(std::exception_ptr error) noexcept {
    if (!this->claim_for_completion()) return false;
    this->finish_with_exception(std::move(error), state_base::on_complete::keep_ref);
    return true;
  }

  // For work done elsewhere (a process pool's worker): start() moves pending
  // -> running, so that cancel() fails from then on; false if it was
  // cancelled first. The completer then calls complete_value /
  // complete_exception exactly once.
  bool start() noexcept { return this->claim_for_completion(); }
  template <class... Args>
  void complete_value(Args&&... args) {
    WEFT_ASSERT(this->load_status() == state_base::running, "complete_value() without start()");
    try {
      this->finish_with_value(state_base::on_complete::keep_ref, std::forward<Args>(args)...);
    } catch (...) {
      this->finish_with_exception(std::current_exception(), state_base::on_complete::keep_ref);
    }
  }
  void complete_exception(std::exception_ptr error) noexcept {
    WEFT_ASSERT(this->load_status() == state_base::running, "complete_exception() without start()");
    this->finish_with_exception(std::move(error), state_base::on_complete::keep_ref);
  }

 private:
  void invoke_and_complete(state_base::on_complete) noexcept override {}
  void destroy_callable() noexcept override {}
};

#if defined(WEFT_HAS_STOP_TOKEN)
// What a task that takes a std::stop_token carries: its own stop source, and
// the pool's stop token (shutdown(cancel_all) requests stop of every
// running task through it).
struct stop_parts {
  std::stop_source source;
  std::stop_token pool_token;
  // Forwards the pool's request to this task's source while the task runs.
  struct forward {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };
};
template <class F>
inline constexpr bool takes_stop_token = std::is_invocable_v<F&, std::stop_token>;
#else
struct stop_parts {};
template <class F>
inline constexpr bool takes_stop_token = false;
#endif
struct no_stop_parts {
  explicit no_stop_parts() = default;
};

// A state that runs F() (or F(token), for a callable that takes the task's
// std::stop_token) to produce its value.
template <class F, class R>
class task_state final : public shared_state<R> {
  static constexpr bool stoppable = takes_stop_token<F>;
  using stop_type = std::conditional_t<stoppable, stop_parts, no_stop_parts>;

 public:
  task_state(F&& f, executor_hooks* owner, std::uint32_t refs)
      : shared_state<R>(owner, refs, true) {
    ::new (static_cast<void*>(storage_)) F(std::move(f));
  }
#if defined(WEFT_HAS_STOP_TOKEN)
  // For stoppable tasks: `pool_token` is the executor's "stop everything".
  task_state(F&& f, executor_hooks* owner, std::uint32_t refs, std::stop_token pool_token)
      : task_state(std::move(f), owner, refs) {
    if constexpr (stoppable) stop_.pool_token = std::move(pool_token);
  }
#endif
  ~task_state() override { WEFT_ASSERT(!alive_, "task destroyed with its callable"); }

 private:
  F& fn() noexcept { return *std::launder(reinterpret_cast<F*>(storage_)); }

  decltype(auto) call() {
#if defined(WEFT_HAS_STOP_TOKEN)
    if constexpr (stoppable) {
      // Registered only while the task runs: a shutdown(cancel_all) during
      // the run reaches this task's token.
      std::stop_callback<stop_parts::forward> on_pool_stop(stop_.pool_token, stop_parts::forward{&stop_.source});
      return fn()(stop_.source.get_token());
    } else {
      return fn()();
    }
#else
    return fn()();
#endif
  }

  void invoke_and_complete(state_base::on_complete ref) noexcept override {
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<R>) {
        call();
        destroy_callable();
        this->finish_with_value(ref);
        return;
      } else {
        R value = call();
        destroy_callable();  // captures die when the task finishes, before waiters wake
        this->finish_with_value(ref, std::move(value));
        return;
      }
    } catch (...) {
      error = std::current_exception();
    }
    destroy_callable();
    this->finish_with_exception(std::move(error), ref);
  }
  void destroy_callable() noexcept override {
    if (alive_) {
      fn().~F();
      alive_ = false;
    }
  }
  void stop_requested_by_user() noexcept override {
#if defined(WEFT_HAS_STOP_TOKEN)
    if constexpr (stoppable) stop_.source.request_stop();  // std::stop_source is thread-safe
#endif
  }

  alignas(F) unsigned char storage_[sizeof(F)];
  bool alive_ = true;  // owner: the run()/cancel() CAS winner
  [[no_unique_address]] stop_type stop_;  // stoppable tasks only; lives as long as the state
};

}  // namespace weft::detail
