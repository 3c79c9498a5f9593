// weft — MIT licence. See LICENSE.
//
// <weft/detail/coro_core.hpp> — internal: what every awaitable of weft's
// coroutines shares: the task context (its loop and its stop request), the
// cancel hook of the suspension in progress, and the suspension base that
// wakes a coroutine on its own loop. <weft/task.hpp> builds tasks on it;
// bounded_queue's async_* members use it without the rest. Not API.
#pragma once

#include <weft/detail/event_loop.hpp>
#include <weft/error.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <utility>
#if defined(WEFT_HAS_STOP_TOKEN)
#include <stop_token>
#endif

namespace weft::detail {

// The exception a cancelled coroutine sees at its current or next co_await.
[[noreturn]] inline void throw_task_cancelled() { throw weft::cancelled("weft: the task was cancelled"); }

// How a suspension in progress reacts to a stop request: it either ends
// now (a sleep, a wait in a queue or a semaphore: resumed, and its
// await_resume throws weft::cancelled) or passes the request on and keeps
// waiting (a future, a gather: until the awaited work has finished).
// Called on the loop thread, at most once per suspension.
class cancel_hook {
 public:
  virtual void on_cancel() noexcept = 0;

 protected:
  ~cancel_hook() = default;
};

// One per spawned task (and per run()'s main task): every coroutine it
// awaits directly shares it, as in asyncio, where one Task runs a chain of
// awaited coroutines and cancel() reaches the innermost await.
//
// stop_: set once by request() from any thread, read anywhere (a coroutine
// checks it at every co_await). hook_: loop thread only; the cancel hook of
// the suspension in progress, cleared when that suspension is woken. The
// request reaches the hook through delivery_, posted once to the loop
// (never after finish(): the loop waits for a delivery posted before).
class task_context {
 public:
  explicit task_context(event_loop& loop) noexcept : loop_(&loop) {
    delivery_.action = &deliver;
    delivery_.loop = &loop;
    delivery_.owner = this;
  }
  task_context(const task_context&) = delete;
  task_context& operator=(const task_context&) = delete;

  event_loop& loop() const noexcept { return *loop_; }
  // acquire: pairs with request()'s CAS (R1); nothing else rides on it.
  bool stop_requested() const noexcept { return (flags_.load(std::memory_order_acquire) & stop_bit) != 0; }
#if defined(WEFT_HAS_STOP_TOKEN)
  // Loop thread. The source is made on first use (most tasks never ask,
  // and a std::stop_source allocates); the loop forwards a request to it
  // when the request's delivery runs, or here if it ran already.
  std::stop_token stop_token() {
    if (!source_.stop_possible()) {
      source_ = std::stop_source();
      if (stop_requested()) source_.request_stop();
    }
    return source_.get_token();
  }
#endif

  // Any thread: asks the task to stop. `keep_alive` (optional) runs
  // before the delivery is posted; `let_go` after it ran (the owner's
  // reference). True for the first request. After finish() nothing is
  // posted: the loop may be gone.
  bool request(void (*keep_alive)(task_context&) = nullptr) noexcept {
    std::uint32_t seen = flags_.load(std::memory_order_relaxed);
    std::uint32_t next;
    do {
      if ((seen & stop_bit) != 0) return false;
      next = seen | stop_bit | ((seen & finished_bit) != 0 ? 0 : posted_bit);
      // (R1) acq_rel: ordered with finish()'s fetch_or (F1) on the same word:
      // either finish() sees posted_bit and the loop waits for the delivery,
      // or we see finished_bit and post nothing.
    } while (!flags_.compare_exchange_weak(seen, next, std::memory_order_acq_rel, std::memory_order_relaxed));
    if ((next & posted_bit) != 0) {
      if (keep_alive != nullptr) keep_alive(*this);
      loop_->post(&delivery_);
    }
    return true;
  }
  // Loop thread, once the task (and every coroutine sharing this context)
  // finished: a request posted before is waited for by the loop.
  void finish() noexcept {
    // (F1) acq_rel: see (R1).
    if ((flags_.fetch_or(finished_bit, std::memory_order_acq_rel) & posted_bit) != 0 && !delivered_)
      loop_->expect_delivery();
  }

  // Loop thread: the suspension in progress and its hook.
  void suspend_on(cancel_hook* h) noexcept { hook_ = h; }
  void woken(cancel_hook* h) noexcept {
    if (hook_ == h) hook_ = nullptr;
  }

  // Called after a delivery ran (the owner's release); null: nothing to do.
  void (*let_go)(task_context&) = nullptr;
  void* owner = nullptr;  // let_go's argument: the object that holds this context

 private:
  static void deliver(loop_waiter* w) {
    task_context* self = static_cast<delivery*>(w)->owner;
    self->delivered_ = true;
#if defined(WEFT_HAS_STOP_TOKEN)
    if (self->source_.stop_possible()) self->source_.request_stop();
#endif
    if (cancel_hook* h = std::exchange(self->hook_, nullptr)) h->on_cancel();
    // relaxed: finished_bit is set by this thread (finish() runs on the loop).
    if ((self->flags_.load(std::memory_order_relaxed) & finished_bit) != 0) self->loop_->delivery_arrived();
    if (self->let_go != nullptr) self->let_go(*self);  // may destroy *self
  }

  struct delivery : loop_waiter {
    task_context* owner = nullptr;
  };

  event_loop* loop_;
  cancel_hook* hook_ = nullptr;        // loop thread only
  static constexpr std::uint32_t stop_bit = 1;      // set once by request()
  static constexpr std::uint32_t posted_bit = 2;    // set with stop_bit when delivery_ is posted
  static constexpr std::uint32_t finished_bit = 4;  // set once by finish(); then nothing is posted
  std::atomic<std::uint32_t> flags_{0};             // protocol (R1)/(F1)
  bool delivered_ = false;                          // loop thread only: delivery_ ran
  delivery delivery_;                  // posted once by request()
#if defined(WEFT_HAS_STOP_TOKEN)
  std::stop_source source_{std::nostopstate};  // loop thread only; this_task::stop_token()'s, made on first use
#endif
};

// The base of every weft awaiter that suspends: the loop_waiter that wakes
// it on its own loop, and the cancel hook registered while it waits.
// The wake-up (an action run by the loop) clears the hook, then resumes.
class suspension : public loop_waiter, public cancel_hook {
 public:
  explicit suspension(task_context& ctx) noexcept : ctx_(&ctx) {}

 protected:
  // Call in await_suspend: records the coroutine and registers the hook.
  void suspend(std::coroutine_handle<> h) noexcept {
    handle = h;
    loop = &ctx_->loop();
    action = &resume_action;
    ctx_->suspend_on(this);
  }
  task_context& context() const noexcept { return *ctx_; }

 public:
  // Any thread: the wait is over; the coroutine resumes on its loop.
  void wake() noexcept { loop->post(this); }

 private:
  static void resume_action(loop_waiter* w) {
    auto* self = static_cast<suspension*>(w);
    self->ctx_->woken(self);
    self->loop->drive(self->handle);
  }
  task_context* ctx_;
};

}  // namespace weft::detail
