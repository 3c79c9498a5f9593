// weft — MIT licence. See LICENSE.
//
// <weft/task.hpp> — coroutines that wait without holding a thread: Python's
// asyncio for C++20, on the same weft::future as every pool.
//
//   async def f() -> T          weft::task<T> f()
//   asyncio.run(main())         weft::run(main())
//   await asyncio.sleep(d)      co_await weft::sleep_for(d)
//   asyncio.create_task(c)      weft::spawn(c)            -> weft::future<T>
//   loop.run_in_executor(...)   co_await pool.submit(f)   (any weft::future)
//   asyncio.gather(*aws)        co_await weft::gather(aws...)
//   asyncio.wait(FIRST_COMPLETED) co_await weft::first_of(aws...)
//   asyncio.wait_for(aw, t)     co_await weft::wait_for(aw, t)
//   Task.cancel()               fut.request_stop()
//   asyncio.Semaphore(n)        weft::async_semaphore(n)
//   asyncio.Queue(n)            weft::bounded_queue<T>(n) with async_push / async_pop / async_join
//
// Model: every coroutine runs on an event loop (one per thread that calls
// weft::run), one at a time, as in asyncio. Awaiting a future or a queue
// from another thread suspends the coroutine and resumes it on its own loop
// when the other thread completes. The loop is detail::event_loop: a ready
// queue, a timer heap and one futex wake-up for other threads.
#pragma once

#include <weft/detail/block_cache.hpp>
#include <weft/detail/config.hpp>
#include <weft/detail/coro_core.hpp>
#include <weft/detail/event_loop.hpp>
#include <weft/detail/future_access.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>

#include <array>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <mutex>
#include <new>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace weft {

template <class T = void>
class task;

namespace detail {

// Who learns that a coroutine with no awaiting coroutine finished: run()'s
// main task, or a spawned task's state. Called from its final suspension,
// on the loop thread; may destroy the coroutine.
class task_root {
 public:
  virtual void on_done() noexcept = 0;

 protected:
  ~task_root() = default;
};

template <class A>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

// An awaitable that a stop request does not interrupt at its start: it
// reads the token, or it owns children that must finish first.
template <class A>
concept awaits_through_stop = requires { std::remove_cvref_t<A>::weft_awaits_through_stop; };

template <class T>
class spawned_state;
template <class T>
using value_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Whether spawn() builds a task's state in room kept in front of its frame
// (so a spawn allocates nothing but the frame): whenever the state needs no
// more than the default new alignment, which the block has.
template <class T>
inline constexpr bool state_in_frame = alignof(value_or_monostate<T>) <= alignof(std::max_align_t);

// Frame memory, from the task-state cache (see block_cache):
//   [ padding | room for spawned_state<T> | frame_header ][ coroutine frame ]
// The frame starts on a cache line (or T's alignment, if larger): C++20
// gives a frame's operator new no alignment, and GCC lays out an
// alignas(64) local or result as if the frame had it. The header says
// whether a spawn built its state in the room; then the state owns the
// block and frees it with its last reference (always after the frame was
// destroyed: see spawned_state), and the frame's own delete leaves it.
struct alignas(16) frame_header {
  static constexpr std::uint32_t expected_magic = 0x77656674;  // "weft"
  std::uint32_t magic;
  bool state_inside;
  void* block;
  std::size_t block_bytes;
};
template <class T>
struct frame_memory {
  static constexpr std::size_t frame_align =
      alignof(value_or_monostate<T>) > cache_line ? alignof(value_or_monostate<T>) : cache_line;
  static constexpr std::size_t room = state_in_frame<T> ? (sizeof(spawned_state<T>) + 15) / 16 * 16 : 0;
  static constexpr std::size_t prefix = room + sizeof(frame_header);

  static void* allocate(std::size_t frame_bytes) {
    // Blocks are aligned to at least 16: frame_align - 16 bytes of slack
    // always fit an aligned frame start after the prefix.
    const std::size_t block_bytes = prefix + frame_bytes + frame_align - 16;
    char* block = static_cast<char*>(block_cache::allocate(block_bytes));
    const auto start = reinterpret_cast<std::uintptr_t>(block) + prefix;
    char* frame = block + ((start + frame_align - 1) / frame_align * frame_align - reinterpret_cast<std::uintptr_t>(block));
    ::new (frame - sizeof(frame_header)) frame_header{frame_header::expected_magic, false, block, block_bytes};
    return frame;
  }
  static void release_frame(void* frame, std::size_t) noexcept {
    frame_header& h = header_of(frame);
    if (h.state_inside) return;  // the state frees the block
    block_cache::deallocate(h.block, h.block_bytes);
  }
  static frame_header& header_of(void* frame) noexcept {
    return *std::launder(reinterpret_cast<frame_header*>(static_cast<char*>(frame) - sizeof(frame_header)));
  }
  static void* room_of(void* frame) noexcept { return static_cast<char*>(frame) - prefix; }
  // The header of the frame whose room holds the state at `state`.
  static frame_header& header_after_room(void* state) noexcept {
    return *std::launder(reinterpret_cast<frame_header*>(static_cast<char*>(state) + room));
  }
};

class task_promise_base {
 public:
  std::suspend_always initial_suspend() noexcept { return {}; }  // lazy: starts when awaited or spawned

  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> h) noexcept {
      task_promise_base& p = h.promise();
      if (p.continuation_) {
        p.context_->loop().continue_with(p.continuation_);  // the awaiter runs next (see event_loop)
      } else if (p.root_ != nullptr) {
        p.root_->on_done();  // may destroy this frame
      }
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }

  // Every co_await in a task passes here: a stop request already made
  // throws weft::cancelled before the awaitable starts (asyncio's "the next
  // await raises CancelledError"), and weft's awaitables learn the task's
  // context (its loop and its stop request).
  template <class A>
  decltype(auto) await_transform(A&& a) {
    if constexpr (!awaits_through_stop<A>) {
      if (context_->stop_requested()) throw_task_cancelled();
    }
    if constexpr (requires { make_awaiter(*context_, std::forward<A>(a)); }) {
      return make_awaiter(*context_, std::forward<A>(a));
    } else if constexpr (requires { std::forward<A>(a).make_awaiter(*context_); }) {
      return std::forward<A>(a).make_awaiter(*context_);
    } else {
      return std::forward<A>(a);  // a foreign awaitable: it must resume us on this loop's thread
    }
  }

  // Wiring: set by whoever starts the coroutine (an awaiting task, spawn, run).
  void bind(task_context& ctx, std::coroutine_handle<> continuation, task_root* root) noexcept {
    context_ = &ctx;
    continuation_ = continuation;
    root_ = root;
  }
  task_context& context() const noexcept { return *context_; }

 private:
  task_context* context_ = nullptr;        // set before the first resume
  std::coroutine_handle<> continuation_;   // the awaiting coroutine, if any
  task_root* root_ = nullptr;              // else: who learns it finished
};

template <class T>
class task_promise : public task_promise_base {
 public:
  static void* operator new(std::size_t bytes) { return frame_memory<T>::allocate(bytes); }
  static void operator delete(void* frame, std::size_t bytes) noexcept { frame_memory<T>::release_frame(frame, bytes); }
  task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }
  template <class U = T>
    requires std::convertible_to<U&&, T>
  void return_value(U&& value) {
    result_.template emplace<1>(std::forward<U>(value));
  }
  // The result, once finished: the value, or the exception rethrown.
  T take() {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    WEFT_ASSERT(result_.index() == 1, "task result taken before the task finished");
    return std::move(std::get<1>(result_));
  }
  std::exception_ptr error() const noexcept { return result_.index() == 2 ? std::get<2>(result_) : nullptr; }

 private:
  std::variant<std::monostate, T, std::exception_ptr> result_;
};

template <>
class task_promise<void> : public task_promise_base {
 public:
  static void* operator new(std::size_t bytes) { return frame_memory<void>::allocate(bytes); }
  static void operator delete(void* frame, std::size_t bytes) noexcept { frame_memory<void>::release_frame(frame, bytes); }
  task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void return_void() noexcept {}
  void take() {
    if (error_) std::rethrow_exception(error_);
  }
  std::exception_ptr error() const noexcept { return error_; }

 private:
  std::exception_ptr error_;
};

template <class T>
class task_awaiter;
class event_loop;
template <class T>
future<T> spawn_on(event_loop& loop, task<T>&& t);
template <class T, class Stop>
T run_loop(task<T> t, Stop outer);

}  // namespace detail

// A lazy, move-only coroutine returning T (Python's `async def`): it starts
// when it is awaited (co_await), spawned (weft::spawn) or run (weft::run),
// and runs on the loop of the thread that starts it.
//
// Thread-safety: a task is a plain move-only object; once started, its
// coroutine runs on one loop's thread only.
// Exceptions: one escaping the coroutine is rethrown to its awaiter.
// Ordering: everything the coroutine did happens before its awaiter resumes.
// Cost: one allocation (the frame, recycled through weft's block cache);
//   awaiting a task suspends the awaiter and resumes the task through the
//   loop's continuation slot, in constant stack.
// Lifetime: destroying a task that never started (or that finished)
//   destroys its frame and the parameters it holds.
template <class T>
class [[nodiscard("a weft::task does nothing until it is awaited, spawned or run")]] task {
  static_assert(!std::is_reference_v<T>, "weft::task<T&>: return a pointer or std::reference_wrapper instead");

 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~task() { reset(); }

  // False for a default-constructed or moved-from task.
  bool valid() const noexcept { return static_cast<bool>(handle_); }

 private:
  friend promise_type;
  template <class>
  friend class detail::task_awaiter;
  template <class>
  friend class detail::spawned_state;
  template <class U, class Stop>
  friend U detail::run_loop(task<U>, Stop);
  template <class U>
  friend future<U> detail::spawn_on(detail::event_loop&, task<U>&&);

  explicit task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  std::coroutine_handle<promise_type> release() noexcept { return std::exchange(handle_, nullptr); }
  std::coroutine_handle<promise_type> handle() const {
    if (!handle_) throw std::logic_error("weft::task: awaiting a task that is empty (moved from or already awaited)");
    return handle_;
  }
  // For spawn() and run(): a task that already ran to completion (awaited
  // as an lvalue) cannot start again.
  std::coroutine_handle<promise_type> unstarted_handle() const {
    auto h = handle();
    if (h.done()) throw std::logic_error("weft::task: this task already finished (it was awaited); make a new one");
    return h;
  }
  void reset() noexcept {
    if (handle_) std::exchange(handle_, nullptr).destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<task_promise<T>>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<task_promise<void>>::from_promise(*this));
}

// co_await on a task: the awaiter's coroutine suspends and the task runs
// next; when it finishes, the awaiter runs next (both through the loop's
// continuation slot). The task shares the awaiter's context.
template <class T>
class task_awaiter {
 public:
  task_awaiter(task_context& ctx, task<T>& t) : ctx_(&ctx), child_(t.handle()) {
    if (child_.done()) throw std::logic_error("weft::task: awaited twice (its result was already taken)");
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> awaiting) noexcept {
    child_.promise().bind(*ctx_, awaiting, nullptr);
    ctx_->loop().continue_with(child_);
  }
  T await_resume() { return child_.promise().take(); }

 private:
  task_context* ctx_;
  std::coroutine_handle<task_promise<T>> child_;
};

template <class T>
task_awaiter<T> make_awaiter(task_context& ctx, task<T>&& t) {
  return task_awaiter<T>(ctx, t);
}
template <class T>
task_awaiter<T> make_awaiter(task_context& ctx, task<T>& t) {
  return task_awaiter<T>(ctx, t);
}

// co_await on a weft::future (from any pool, or spawn): suspends until the
// future is done, then resumes on the awaiting coroutine's loop. A stop
// request while it waits cancels the future's task (cancel() if it has not
// started, request_stop() otherwise) and keeps waiting for it to finish;
// then the future's outcome is returned (or its cancellation thrown).
template <class T>
class future_awaiter final : public suspension {
 public:
  future_awaiter(task_context& ctx, future<T>& f) : suspension(ctx), future_(&f) {
    if (!f.valid()) throw std::future_error(std::future_errc::no_state);
  }
  bool await_ready() const { return future_->ready(); }
  void await_suspend(std::coroutine_handle<> h) {
    refuse_self_await();
    suspend(h);
    try {
      future_->add_done_callback([this] { wake(); });  // runs on the completer's thread
    } catch (...) {  // no memory for the callback: not suspended after all
      context().woken(this);
      throw;
    }
  }
  T await_resume() { return future_->get(); }
  void on_cancel() noexcept override {
    future_->cancel();
    future_->request_stop();
  }

 private:
  // A task awaiting its own spawn future (or its spawner's, through a
  // directly awaited child) would wait for itself forever.
  void refuse_self_await() const {
    auto* spawned = dynamic_cast<spawned_state<T>*>(future_access::state(*future_));
    if (spawned != nullptr && spawned->runs_in(context()))
      throw std::logic_error("weft: a task awaits its own future; it would wait for itself forever");
  }

  future<T>* future_;
};

template <class T>
future_awaiter<T> make_awaiter(task_context& ctx, future<T>& f) {
  return future_awaiter<T>(ctx, f);
}
template <class T>
future_awaiter<T> make_awaiter(task_context& ctx, future<T>&& f) {
  return future_awaiter<T>(ctx, f);  // f lives until the end of the co_await expression
}

// sleep_for / sleep_until: a timer in the loop's heap; no thread sleeps.
class sleep_awaiter final : public suspension, private loop_timer {
 public:
  sleep_awaiter(task_context& ctx, steady_time when) noexcept : suspension(ctx) { deadline = when; }
  bool await_ready() const noexcept { return false; }  // sleep_for(0) still yields, as asyncio.sleep(0)
  void await_suspend(std::coroutine_handle<> h) {
    suspend(h);
    context().loop().arm(*this);
  }
  void await_resume() const {
    if (cancelled_) throw_task_cancelled();
  }
  void on_cancel() noexcept override {
    if (fired_) return;  // already woken: the cancellation applies at the next co_await
    context().loop().disarm(*this);
    cancelled_ = true;
    fire();
  }

 private:
  void fire() noexcept override {
    fired_ = true;
    context().loop().schedule(this);
  }
  bool fired_ = false;      // loop thread only
  bool cancelled_ = false;  // loop thread only
};

struct sleep_request {
  steady_time deadline;
  sleep_awaiter make_awaiter(task_context& ctx) const noexcept { return sleep_awaiter(ctx, deadline); }
};

struct stop_token_request {
  static constexpr bool weft_awaits_through_stop = true;
  struct awaiter {
    task_context* ctx;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
#if defined(WEFT_HAS_STOP_TOKEN)
    std::stop_token await_resume() const { return ctx->stop_token(); }
#else
    bool await_resume() const noexcept { return ctx->stop_requested(); }
#endif
  };
  awaiter make_awaiter(task_context& ctx) const noexcept { return {&ctx}; }
};

// A spawned task's future state: owns the coroutine frame, is the task's
// root (it learns when the coroutine finishes) and holds its context.
// References: the future's and the loop's (dropped when the task ends); a
// stop request on its way to the loop holds one more.
// Status: pending until the loop starts it (cancel() may win first; then
// destroy_callable() destroys the unstarted frame), running while it runs,
// then final, with the frame destroyed before the status is published (its
// locals are gone before the future reports anything).
template <class T>
class spawned_state final : public shared_state<T>, private task_root {
 public:
  // Built in the room in front of its frame when state_in_frame<T> (see
  // frame_memory): the last reference frees the whole block.
  static void* operator new(std::size_t bytes, void* room) noexcept {
    (void)bytes;
    return room;
  }
  static void* operator new(std::size_t bytes) { return state_base::operator new(bytes); }
  static void* operator new(std::size_t bytes, std::align_val_t align) { return ::operator new(bytes, align); }
  static void operator delete(void* p, std::size_t bytes) noexcept {
    if constexpr (state_in_frame<T>) {
      (void)bytes;
      const frame_header& header = frame_memory<T>::header_after_room(p);
      block_cache::deallocate(header.block, header.block_bytes);
    } else {
      state_base::operator delete(p, bytes);
    }
  }
  static void operator delete(void* p, std::align_val_t align) noexcept { ::operator delete(p, align); }

  // Whether `ctx` is this task's context (its coroutines are the awaiter).
  bool runs_in(const task_context& ctx) const noexcept { return &context_ == &ctx; }

  spawned_state(task<T>&& t, event_loop& loop)
      : shared_state<T>(nullptr, 2, false), handle_(t.unstarted_handle()), context_(loop) {
    t.release();
    handle_.promise().bind(context_, nullptr, this);
    context_.owner = this;
    context_.let_go = [](task_context& ctx) { static_cast<spawned_state*>(ctx.owner)->release(); };
    start_.self = this;
    start_.action = &start;
    start_.loop = &loop;
    loop.task_started();
    loop.schedule(&start_);  // starts when the spawner next suspends, in spawn order
  }

 private:
  struct starter : loop_waiter {
    spawned_state* self = nullptr;
  };

  // Loop thread: the task's turn to start.
  static void start(loop_waiter* w) {
    spawned_state* self = static_cast<starter*>(w)->self;
    if (!self->claim_for_completion()) {  // cancelled before it started: the frame is gone
      self->finish();
      return;
    }
    self->context_.loop().drive(self->handle_);
  }
  // Loop thread, from the coroutine's final suspension.
  void on_done() noexcept override {
    auto frame = std::exchange(handle_, nullptr);
    std::exception_ptr error = frame.promise().error();
    if (error == nullptr) {
      try {
        if constexpr (std::is_void_v<T>) {
          std::exchange(frame, nullptr).destroy();
          this->finish_with_value(state_base::on_complete::keep_ref);
        } else {
          T value = frame.promise().take();
          std::exchange(frame, nullptr).destroy();
          this->finish_with_value(state_base::on_complete::keep_ref, std::move(value));
        }
      } catch (...) {  // T's move constructor threw
        if (frame) frame.destroy();
        this->finish_with_exception(std::current_exception(), state_base::on_complete::keep_ref);
      }
    } else {
      frame.destroy();
      this->finish_with_exception(std::move(error), state_base::on_complete::keep_ref);
    }
    finish();
  }
  void finish() noexcept {
    context_.finish();
    context_.loop().task_finished();
    this->release();  // the loop's reference; may delete this
  }
  void invoke_and_complete(state_base::on_complete) noexcept override {}  // never run by a pool
  void destroy_callable() noexcept override {
    if (handle_) std::exchange(handle_, nullptr).destroy();
  }
  void stop_requested_by_user() noexcept override {
    context_.request([](task_context& ctx) { static_cast<spawned_state*>(ctx.owner)->add_ref(); });
  }

  std::coroutine_handle<task_promise<T>> handle_;  // the frame; null once destroyed
  task_context context_;
  starter start_;
};

template <class T>
future<T> spawn_on(event_loop& loop, task<T>&& t) {
  if constexpr (state_in_frame<T>) {
    void* frame = t.unstarted_handle().address();  // GCC, Clang and MSVC: the pointer frame_memory returned
    frame_header& header = frame_memory<T>::header_of(frame);
    WEFT_ASSERT(header.magic == frame_header::expected_magic && !header.state_inside,
                "weft::spawn: a task's frame is not where its promise allocated it");
    auto* state = new (frame_memory<T>::room_of(frame)) spawned_state<T>(std::move(t), loop);
    header.state_inside = true;
    return future_access::make<T>(state);
  } else {
    return future_access::make<T>(new spawned_state<T>(std::move(t), loop));
  }
}

// run()'s main task: its root records that it finished.
class main_root final : public task_root {
 public:
  void on_done() noexcept override { done_ = true; }
  bool done() const noexcept { return done_; }

 private:
  bool done_ = false;
};

#if defined(WEFT_HAS_STOP_TOKEN)
using outer_stop = std::stop_token;
#else
struct outer_stop {};
#endif

// A loop on this thread until `t` and every task spawned on the loop have
// finished. `outer`: a stop token (a pool task's) that cancels `t`.
template <class T, class Stop>
T run_loop(task<T> t, Stop outer) {
  event_loop loop;
  loop_scope scope(loop);
  auto frame = t.unstarted_handle();
  main_root root;
  task_context ctx(loop);
  frame.promise().bind(ctx, nullptr, &root);
  {
#if defined(WEFT_HAS_STOP_TOKEN)
    struct forward {
      task_context* ctx;
      void operator()() const noexcept { ctx->request(); }
    };
    std::stop_callback<forward> link(std::move(outer), forward{&ctx});
#else
    (void)outer;
#endif
    loop.schedule(frame);
    loop.run_until([&] { return root.done(); });
  }
  ctx.finish();  // the link is gone: no request can come any more
  loop.run_until([&] { return loop.idle(); });
  return frame.promise().take();
}

}  // namespace detail

// Runs `main` on an event loop on the calling thread (asyncio.run) and
// returns its result once it and every task spawned on the loop have
// finished; rethrows main's exception (after the others finished).
// Blocks the calling thread, which runs the loop.
// Throws std::logic_error on a thread that already runs a loop (inside a
// task, co_await instead), and std::invalid_argument for an empty task.
template <class T>
T run(task<T> main) {
  if (detail::event_loop::current() != nullptr)
    throw std::logic_error("weft::run: this thread already runs an event loop; co_await the task instead");
  if (!main.valid()) throw std::invalid_argument("weft::run: the task is empty (moved from)");
  return detail::run_loop(std::move(main), detail::outer_stop{});
}

// Schedules `t` on the calling thread's loop (asyncio.create_task): it
// starts when the caller next suspends, spawned tasks in spawn order, and
// runs concurrently with it. The future's request_stop() cancels it (its
// current or next co_await throws weft::cancelled); cancel() stops it only
// before it started. Throws std::logic_error outside a loop.
template <class T>
future<T> spawn(task<T> t) {
  detail::event_loop* loop = detail::event_loop::current();
  if (loop == nullptr)
    throw std::logic_error("weft::spawn: no event loop on this thread; call it inside weft::run, or use spawn(pool, task)");
  if (!t.valid()) throw std::invalid_argument("weft::spawn: the task is empty (moved from)");
  return detail::spawn_on(*loop, std::move(t));
}

// Runs `t` on a worker of `pool` (a weft::thread_pool), on a loop of its
// own there; request_stop() on the future cancels it as above.
// Thread-safe as pool.submit. Throws weft::pool_closed after shutdown.
template <class Pool, class T>
  requires requires(Pool& p) { p.submit([] {}); }
future<T> spawn(Pool& pool, task<T> t) {
  if (!t.valid()) throw std::invalid_argument("weft::spawn: the task is empty (moved from)");
#if defined(WEFT_HAS_STOP_TOKEN)
  return pool.submit([t = std::move(t)](std::stop_token stop) mutable -> T {
    return detail::run_loop(std::move(t), std::move(stop));
  });
#else
  return pool.submit([t = std::move(t)]() mutable -> T { return detail::run_loop(std::move(t), detail::outer_stop{}); });
#endif
}

// co_await sleep_for(d) / sleep_until(t): resumes after d (at t) on the
// loop's timers; no thread sleeps. Zero or negative yields to the other
// ready tasks, as asyncio.sleep(0). Throws weft::cancelled when the task is
// cancelled while it sleeps.
template <class Rep, class Period>
detail::sleep_request sleep_for(std::chrono::duration<Rep, Period> d) {
  return {detail::wait_policy::for_(d).deadline()};
}
template <class Clock, class Duration>
detail::sleep_request sleep_until(std::chrono::time_point<Clock, Duration> t) {
  return {detail::wait_policy::until(t).deadline()};
}

namespace this_task {
// co_await weft::this_task::stop_token(): the running task's stop token
// (a bool "stop requested" where the library has no std::stop_token).
// Never throws, even after a stop request.
inline detail::stop_token_request stop_token() noexcept { return {}; }
}  // namespace this_task

namespace detail {

// What gather / first_of / wait_for accept: tasks and futures.
template <class A>
concept child_awaitable = is_task<std::remove_cvref_t<A>>::value || is_future<std::remove_cvref_t<A>>::value;
template <class A>
using child_result_t = typename std::remove_cvref_t<A>::value_type;
// A combinator's child as a future: a task is spawned on this loop.
template <class T>
future<T> as_child(task<T>&& t) {
  return weft::spawn(std::move(t));
}
template <class T>
future<T> as_child(future<T>&& f) {
  if (!f.valid()) throw std::future_error(std::future_errc::no_state);
  return std::move(f);
}
template <class T>
value_or_monostate<T> take_value(future<T>& f) {
  if constexpr (std::is_void_v<T>) {
    f.get();
    return {};
  } else {
    return f.get();
  }
}

// co_await context_request{}: the running task's context (for combinators).
struct context_request {
  static constexpr bool weft_awaits_through_stop = true;
  struct awaiter {
    task_context* ctx;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    task_context& await_resume() const noexcept { return *ctx; }
  };
  awaiter make_awaiter(task_context& ctx) const noexcept { return {&ctx}; }
};

// The children of one combinator, and its waits on them. Each child's
// completion is posted to the loop as that child's own node, so waiting
// allocates nothing after the callbacks are registered.
//
// Invariant: the set is destroyed only after every child's arrival ran
// (the combinators always end with wait(all)), so no callback outlives it.
// A stop request while the combinator waits cancels every child and turns
// the wait into wait(all): children finish before the cancellation goes on.
class join_set final : public suspension, private loop_timer {
 public:
  enum class until { all, first };

  join_set(task_context& ctx, std::vector<state_base*> children)
      : suspension(ctx), children_(std::move(children)), arrivals_(children_.size()) {
    for (std::size_t i = 0; i < children_.size(); ++i) {
      arrivals_[i].set = this;
      arrivals_[i].index = i;
      arrivals_[i].action = &arrived;
      arrivals_[i].loop = &ctx.loop();
    }
    for (std::size_t i = 0; i < children_.size(); ++i) {
      arrival* a = &arrivals_[i];
      children_[i]->add_done_callback([a] { a->loop->post(a); });  // any thread: the completer's
    }
  }
  ~join_set() { WEFT_ASSERT(arrived_ == children_.size(), "join_set destroyed before its children finished"); }
  join_set(const join_set&) = delete;
  join_set& operator=(const join_set&) = delete;

  // Asks every child that has not finished to stop (cancel() if it has not
  // started, request_stop() otherwise); skip: one child to leave alone.
  void cancel_children(std::size_t skip = static_cast<std::size_t>(-1)) noexcept {
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (i == skip || children_[i]->done()) continue;
      children_[i]->cancel();
      children_[i]->request_stop();
    }
  }
  std::optional<std::size_t> first() const noexcept { return first_; }

  // co_await set.wait(until::all | until::first [, deadline]): resumes when
  // the condition holds or the deadline passes. Throws weft::cancelled
  // (after every child finished) when the awaiting task was cancelled.
  struct wait_request {
    static constexpr bool weft_awaits_through_stop = true;  // it must see its children finish
    join_set* set;
    until mode;
    std::optional<steady_time> deadline;
    struct awaiter {
      join_set* set;
      bool await_ready() const noexcept { return set->satisfied(); }
      void await_suspend(std::coroutine_handle<> h) { set->begin_wait(h); }
      void await_resume() const {
        if (set->cancelled_) throw_task_cancelled();
      }
    };
    awaiter make_awaiter(task_context&) noexcept {
      set->mode_ = mode;
      set->timed_out_ = false;
      set->deadline_ = deadline;
      if (set->context().stop_requested() && !set->cancelled_) set->on_cancel();
      return {set};
    }
  };
  wait_request wait(until mode, std::optional<steady_time> until_time = std::nullopt) noexcept {
    return {this, mode, until_time};
  }
  bool timed_out() const noexcept { return timed_out_; }

 private:
  struct arrival : loop_waiter {
    join_set* set = nullptr;
    std::size_t index = 0;
  };

  bool satisfied() const noexcept {
    if (arrived_ == children_.size()) return true;
    return mode_ == until::first && (first_.has_value() || timed_out_);
  }
  void begin_wait(std::coroutine_handle<> h) {
    suspend(h);
    waiting_ = true;
    if (deadline_ && mode_ == until::first) {
      this->loop_timer::deadline = *deadline_;
      context().loop().arm(*this);
    }
  }
  void end_wait_if_satisfied() {
    if (!waiting_ || !satisfied()) return;
    waiting_ = false;
    context().loop().disarm(*this);
    context().loop().schedule(this);
  }
  static void arrived(loop_waiter* w) {
    auto* a = static_cast<arrival*>(w);
    join_set& set = *a->set;
    ++set.arrived_;
    if (!set.first_) set.first_ = a->index;
    set.end_wait_if_satisfied();
  }
  void fire() noexcept override {
    timed_out_ = true;
    end_wait_if_satisfied();
  }
  void on_cancel() noexcept override {
    // A wait that already ended (its resumption is queued) keeps its
    // outcome; the next wait() sees the stop request (make_awaiter).
    if (!waiting_) return;
    cancelled_ = true;
    mode_ = until::all;
    context().loop().disarm(*this);
    cancel_children();
    end_wait_if_satisfied();
  }

  std::vector<state_base*> children_;  // the combinator's futures own them
  std::vector<arrival> arrivals_;      // one posted node per child
  std::size_t arrived_ = 0;            // loop thread only, as every member below
  std::optional<std::size_t> first_;
  until mode_ = until::all;
  std::optional<steady_time> deadline_;
  bool waiting_ = false;
  bool timed_out_ = false;
  bool cancelled_ = false;
};

template <class T>
state_base* state_of(future<T>& f) noexcept {
  return future_access::state(f);
}

template <class... T>
task<std::tuple<value_or_monostate<T>...>> gather_futures(future<T>... children) {
  task_context& ctx = co_await context_request{};
  join_set set(ctx, {state_of(children)...});
  co_await set.wait(join_set::until::all);
  // Braced initialization evaluates left to right: the first exception in
  // argument order is the one rethrown.
  co_return std::tuple<value_or_monostate<T>...>{take_value(children)...};
}

template <class T>
task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> gather_vector(std::vector<future<T>> children) {
  task_context& ctx = co_await context_request{};
  std::vector<state_base*> states;
  states.reserve(children.size());
  for (auto& f : children) states.push_back(state_of(f));
  join_set set(ctx, std::move(states));
  co_await set.wait(join_set::until::all);
  if constexpr (std::is_void_v<T>) {
    for (auto& f : children) f.get();
  } else {
    std::vector<T> results;
    results.reserve(children.size());
    for (auto& f : children) results.push_back(f.get());
    co_return results;
  }
}

template <class T, std::size_t N>
task<std::pair<std::size_t, value_or_monostate<T>>> first_of_futures(std::array<future<T>, N> children) {
  task_context& ctx = co_await context_request{};
  std::vector<state_base*> states;
  for (auto& f : children) states.push_back(state_of(f));
  join_set set(ctx, std::move(states));
  co_await set.wait(join_set::until::first);
  const std::size_t winner = *set.first();
  set.cancel_children(winner);
  co_await set.wait(join_set::until::all);
  co_return std::pair<std::size_t, value_or_monostate<T>>(winner, take_value(children[winner]));
}

template <class T>
task<T> wait_until_future(future<T> child, steady_time deadline) {
  task_context& ctx = co_await context_request{};
  join_set set(ctx, {state_of(child)});
  try {
    co_await set.wait(join_set::until::first, deadline);
  } catch (const weft::cancelled&) {
    // This task was cancelled (an outer wait_for's deadline, request_stop):
    // the child was asked to stop and has finished. One that produced its
    // value anyway (it took an item from a queue first) delivers it; the
    // cancellation, which stays requested, applies at the next co_await.
    if (state_of(child)->load_status() != state_base::succeeded) throw;
    co_return child.get();
  }
  if (set.timed_out() && !set.first()) {
    set.cancel_children();
    co_await set.wait(join_set::until::all);
    // Only work that ended cancelled is a timeout. Work that finished anyway
    // (an item it took from a queue reached it before the cancellation did)
    // delivers its value, and one that ended with another exception while
    // being cancelled raises it: Python 3.12's rules, nothing lost.
    try {
      co_return child.get();
    } catch (const weft::cancelled&) {
    }
    throw weft::timeout("weft::wait_for: the awaited work did not finish in time and was cancelled");
  }
  co_return child.get();
}

}  // namespace detail

// co_await gather(aws...) (asyncio.gather): runs every task concurrently
// (each spawned on this loop) beside the futures, waits for all, and returns
// their results as a tuple (std::monostate for void). Rethrows the first
// exception in argument order, after every child finished. If the awaiting
// task is cancelled, every child is cancelled and finishes first.
template <class... A>
  requires(sizeof...(A) > 0 && (detail::child_awaitable<A> && ...))
auto gather(A&&... aws) -> task<std::tuple<detail::value_or_monostate<detail::child_result_t<A>>...>> {
  return detail::gather_futures(detail::as_child(std::move(aws))...);
}

// co_await gather(range): the same over a range of tasks or futures (moved
// from), returning a std::vector of results (nothing for void).
template <std::ranges::input_range R>
  requires detail::child_awaitable<std::ranges::range_value_t<R>>
auto gather(R&& range) {
  static_assert(!std::is_lvalue_reference_v<R>,
                "weft::gather(range) moves every task and future out of the range: pass std::move(range)");
  using T = detail::child_result_t<std::ranges::range_value_t<R>>;
  std::vector<future<T>> children;
  for (auto&& aw : range) children.push_back(detail::as_child(std::move(aw)));
  return detail::gather_vector<T>(std::move(children));
}

// co_await first_of(aws...) (asyncio.wait(FIRST_COMPLETED) + cancelling the
// rest): the index and value of the first to finish; every other one is
// cancelled and has finished when it returns. If the first threw (or was
// cancelled), that exception is rethrown once the others have finished.
template <class A0, class... A>
  requires(detail::child_awaitable<A0> && (detail::child_awaitable<A> && ...) &&
           (std::is_same_v<detail::child_result_t<A0>, detail::child_result_t<A>> && ...))
auto first_of(A0&& first, A&&... rest) {
  using T = detail::child_result_t<A0>;
  std::array<future<T>, 1 + sizeof...(A)> children{detail::as_child(std::move(first)),
                                                   detail::as_child(std::move(rest))...};
  return detail::first_of_futures<T, 1 + sizeof...(A)>(std::move(children));
}

// co_await wait_for(aw, d) (asyncio.wait_for): aw's result if it finishes
// within d; otherwise aw is cancelled, has finished unwinding, and
// weft::timeout is thrown (or the other exception aw ended with while
// being cancelled, or the value it produced before the cancellation
// reached it: Python 3.12's rules).
template <class A, class Rep, class Period>
  requires detail::child_awaitable<A>
auto wait_for(A&& aw, std::chrono::duration<Rep, Period> d) {
  using T = detail::child_result_t<A>;
  const auto deadline = detail::wait_policy::for_(d).deadline();
  return detail::wait_until_future<T>(detail::as_child(std::move(aw)), deadline);
}

// An asyncio.Semaphore: co_await acquire() waits for a permit, without a
// thread, and returns it as an RAII object that gives it back.
//
// Thread-safety: every member may be called from any thread and any loop
// (a short mutex inside); a permit may be released on any thread.
// Blocking: acquire() suspends the awaiting task (never a thread) until a
// permit is handed to it; waiters are served first come, first served.
// Exceptions: acquire() throws weft::cancelled if the task is cancelled
//   while it waits (then it holds no permit); a permit handed over before
//   the cancellation is delivered (the next co_await throws).
// Cost: O(1) per operation, no allocation (a waiter lives in its frame).
// Lifetime: destroy the semaphore only when no task waits and no permit is out.
class async_semaphore {
 public:
  // A held permit; movable; released by release() or the destructor.
  class permit {
   public:
    permit() noexcept = default;
    permit(permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    permit& operator=(permit&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    ~permit() { release(); }
    // Gives the permit back now (to the first waiter, if any). Idempotent.
    void release() noexcept {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->give_back();
    }
    bool holds() const noexcept { return owner_ != nullptr; }
    explicit operator bool() const noexcept { return holds(); }

   private:
    friend class async_semaphore;
    explicit permit(async_semaphore* owner) noexcept : owner_(owner) {}
    async_semaphore* owner_ = nullptr;
  };

  // Throws std::invalid_argument... never: any count, 0 included, is valid.
  explicit async_semaphore(std::size_t permits) noexcept : available_(permits) {}
  async_semaphore(const async_semaphore&) = delete;
  async_semaphore& operator=(const async_semaphore&) = delete;

  // co_await sem.acquire() -> permit. Suspends while none is free.
  auto acquire() noexcept { return acquire_request{this}; }
  // A permit if one is free and nobody waits; never suspends.
  std::optional<permit> try_acquire() {
    std::lock_guard lock(mutex_);
    if (available_ == 0 || head_ != nullptr) return std::nullopt;
    --available_;
    return permit(this);
  }
  // Free permits (snapshot).
  std::size_t available() const {
    std::lock_guard lock(mutex_);
    return available_;
  }

 private:
  class waiter final : public detail::suspension {
   public:
    waiter(detail::task_context& ctx, async_semaphore* sem) noexcept : suspension(ctx), sem_(sem) {}
    bool await_ready() { return sem_->take_if_free(); }
    bool await_suspend(std::coroutine_handle<> h) {
      suspend(h);
      if (sem_->enqueue_or_take(this)) return true;
      context().woken(this);  // took a permit after all: go on without suspending
      return false;
    }
    permit await_resume() const {
      if (cancelled_) detail::throw_task_cancelled();
      return permit(sem_);
    }
    void on_cancel() noexcept override {
      if (!sem_->dequeue(this)) return;  // already granted: delivered, cancelled at the next co_await
      cancelled_ = true;
      context().loop().schedule(this);
    }

   private:
    friend class async_semaphore;
    async_semaphore* sem_;
    waiter* next_ = nullptr;  // guarded by sem_->mutex_
    waiter* prev_ = nullptr;  // guarded by sem_->mutex_
    bool cancelled_ = false;  // loop thread only
  };
  struct acquire_request {
    async_semaphore* sem;
    waiter make_awaiter(detail::task_context& ctx) const noexcept { return waiter(ctx, sem); }
  };

  bool take_if_free() {
    std::lock_guard lock(mutex_);
    if (available_ == 0 || head_ != nullptr) return false;
    --available_;
    return true;
  }
  // True: queued (suspend); false: took a free permit.
  bool enqueue_or_take(waiter* w) {
    std::lock_guard lock(mutex_);
    if (available_ > 0 && head_ == nullptr) {
      --available_;
      return false;
    }
    w->prev_ = tail_;
    (tail_ != nullptr ? tail_->next_ : head_) = w;
    tail_ = w;
    return true;
  }
  // True when w was still queued (and is now removed).
  bool dequeue(waiter* w) noexcept {
    std::lock_guard lock(mutex_);
    if (w->prev_ == nullptr && head_ != w) return false;
    unlink(w);
    return true;
  }
  void unlink(waiter* w) noexcept {
    (w->prev_ != nullptr ? w->prev_->next_ : head_) = w->next_;
    (w->next_ != nullptr ? w->next_->prev_ : tail_) = w->prev_;
    w->next_ = w->prev_ = nullptr;
  }
  // A released permit goes to the first waiter (woken on its loop), else back.
  void give_back() noexcept {
    waiter* granted = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (head_ == nullptr) {
        ++available_;
        return;
      }
      granted = head_;
      unlink(granted);
    }
    granted->wake();
  }

  mutable std::mutex mutex_;
  std::size_t available_;     // guarded by mutex_
  waiter* head_ = nullptr;    // guarded by mutex_: FIFO of waiting tasks
  waiter* tail_ = nullptr;    // guarded by mutex_
};

}  // namespace weft
