// weft — MIT licence. See LICENSE.
//
// <weft/detail/event_loop.hpp> — internal: the event loop behind
// <weft/task.hpp> (asyncio's BaseEventLoop._run_once, in one short file):
// a ready queue, a timer heap, one cross-thread inbox with one futex
// wake-up, and an optional driver (Asio's io_context, see <weft/asio.hpp>)
// that the loop polls instead of sleeping on its futex. Not API.
//
// Threads: every member is for the loop's own thread (the thread inside
// run_until) except post(), which any thread may call.
//
// Stack depth: coroutines never resume each other directly. A task that
// awaits another, and a task that finishes and continues its awaiter, put
// the next coroutine in the loop's continuation slot (next_) and suspend;
// drive() resumes from that slot in a loop. So a million synchronous
// completions awaited in a row use constant stack in every build, with or
// without the compiler's tail calls (cppcoro #31 is the failure this avoids).
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/wait.hpp>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <stdexcept>
#include <utility>
#include <vector>

namespace weft::detail {

class event_loop;

// Something a loop runs on its own thread once another thread (or a timer)
// says so: resumes `handle`, or calls `action` when set. The node lives in
// the awaiter that waits (a coroutine frame), so waking allocates nothing.
struct loop_waiter {
  loop_waiter* next = nullptr;         // inbox link; owned by the inbox while posted
  std::coroutine_handle<> handle;      // resumed when action is null
  void (*action)(loop_waiter*) = nullptr;
  event_loop* loop = nullptr;          // the loop that runs it
};

// A timer in the loop's heap: fire() runs on the loop thread at or after
// `deadline`. index is its heap position (npos when not armed).
struct loop_timer {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  steady_time deadline{};
  std::uint64_t sequence = 0;  // ties keep arming order
  std::size_t index = npos;
  virtual void fire() noexcept = 0;

 protected:
  ~loop_timer() = default;
};

// What the loop waits on when nothing is ready. The default waits on the
// loop's futex word; <weft/asio.hpp> installs one that runs an io_context.
class loop_driver {
 public:
  // Runs what is ready now without blocking (IO completions).
  virtual void poll() = 0;
  // Blocks until wake() or the deadline (steady_time::max(): none).
  virtual void wait(steady_time deadline) = 0;
  // Ends a wait() in progress or the next one; any thread.
  virtual void wake() noexcept = 0;
  virtual ~loop_driver() = default;
};

// A FIFO of T on a growable power-of-two ring: no allocation once it has
// grown to the loop's largest backlog (std::deque allocates a chunk per
// few dozen items pushed, and frees it when they are popped).
template <class T>
class ring_queue {
 public:
  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }
  void push_back(const T& v) {
    if (count_ == items_.size()) grow();
    items_[(head_ + count_) & (items_.size() - 1)] = v;
    ++count_;
  }
  T pop_front() noexcept {
    T v = items_[head_];
    head_ = (head_ + 1) & (items_.size() - 1);
    --count_;
    return v;
  }

 private:
  void grow() {
    std::vector<T> bigger(items_.empty() ? 64 : items_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = items_[(head_ + i) & (items_.size() - 1)];
    items_.swap(bigger);
    head_ = 0;
  }
  std::vector<T> items_;  // size 0 or a power of two
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// The loop. One per thread that runs weft::run (or a task spawned on a pool).
//
// Invariants: ready_, timers_, next_, live_ are touched by the loop thread
// only. inbox_ is a Treiber stack that other threads push to and the loop
// takes whole. sleeping_ is true only between the loop's announcement
// (S1) and the end of its wait.
class event_loop {
 public:
  event_loop() = default;
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;
  ~event_loop() {
    WEFT_ASSERT(live_ == 0, "event_loop destroyed with tasks alive");
    // A poster whose node the loop already ran may still be between its
    // push and its wake-up (P2): wait until it has left post(). Bounded:
    // a few instructions and at most one futex wake.
    while (posting_.load(std::memory_order_acquire) != 0) std::this_thread::yield();  // pairs with (P3)
  }

  // The loop the calling thread runs; null outside a loop.
  static event_loop*& current() noexcept {
    static thread_local event_loop* loop = nullptr;
    return loop;
  }

  // ---- loop thread only ----
  void schedule(std::coroutine_handle<> h) { ready_.push_back({h, nullptr}); }
  void schedule(loop_waiter* w) { ready_.push_back({w->handle, w}); }
  // The continuation slot: the coroutine drive() resumes next (see top).
  void continue_with(std::coroutine_handle<> h) noexcept {
    WEFT_ASSERT(!next_, "two continuations for one resumption");
    next_ = h;
  }
  // Resumes h and every continuation it hands over, in constant stack.
  void drive(std::coroutine_handle<> h) {
    while (h) {
      h.resume();
      h = std::exchange(next_, nullptr);
    }
  }

  void arm(loop_timer& t) {
    t.sequence = timer_sequence_++;
    t.index = timers_.size();
    timers_.push_back(&t);
    sift_up(t.index);
  }
  void disarm(loop_timer& t) noexcept {
    if (t.index == loop_timer::npos) return;
    const std::size_t i = t.index;
    t.index = loop_timer::npos;
    loop_timer* last = timers_.back();
    timers_.pop_back();
    if (last == &t) return;
    timers_[i] = last;
    last->index = i;
    sift_down(i);
    sift_up(last->index);
  }

  // Tasks spawned on this loop and not finished (run_until waits for them).
  void task_started() noexcept { ++live_; }
  void task_finished() noexcept {
    WEFT_ASSERT(live_ > 0, "event_loop: more tasks finished than started");
    --live_;
  }
  std::size_t live_tasks() const noexcept { return live_; }
  // Stop requests posted to tasks that have finished since (see
  // task_context::finish): the loop must outlive their delivery.
  void expect_delivery() noexcept { ++incoming_; }
  void delivery_arrived() noexcept {
    WEFT_ASSERT(incoming_ > 0, "event_loop: a delivery arrived that was not expected");
    --incoming_;
  }
  // Nothing left for the loop: no task alive and no delivery on its way.
  bool idle() const noexcept { return live_ == 0 && incoming_ == 0; }

  // Installs the driver the loop waits in from now on; the loop owns it.
  void adopt_driver(std::unique_ptr<loop_driver> d) noexcept {
    owned_driver_ = std::move(d);
    driver_.store(owned_driver_.get(), std::memory_order_release);  // release: pairs with wake()'s acquire
  }
  loop_driver* driver() const noexcept { return driver_.load(std::memory_order_relaxed); }

  // Runs ready coroutines, timers and posted wake-ups until done() holds
  // when nothing is ready. done() is checked on the loop thread.
  template <class Done>
  void run_until(Done done);

  // ---- any thread ----
  // Hands w to the loop: scheduled at once on the loop's own thread,
  // otherwise through the inbox and one wake-up.
  void post(loop_waiter* w) noexcept {
    if (current() == this) {
      schedule(w);
      return;
    }
    // (P0) relaxed: made visible to the loop by (P1)'s release, which
    // the loop's (L1) acquires before it can run the node, let alone exit.
    posting_.fetch_add(1, std::memory_order_relaxed);
    loop_waiter* head = inbox_.load(std::memory_order_relaxed);
    do {
      w->next = head;
      // (P1) seq_cst: publishes the node (release, pairs with the loop's
      // exchange (L1)) and orders it before (P2) against the loop's (S1)/(S2).
    } while (!inbox_.compare_exchange_weak(head, w, std::memory_order_seq_cst, std::memory_order_relaxed));
    // (P2) seq_cst: Dekker with (S1)/(S2): either we see sleeping_ and wake
    // the loop, or the loop's (S2) sees our node and does not sleep.
    if (sleeping_.load(std::memory_order_seq_cst)) wake();
    // (P3) release: this poster is done with the loop (pairs with the destructor).
    posting_.fetch_sub(1, std::memory_order_release);
  }

 private:
  struct ready_item {
    std::coroutine_handle<> handle;
    loop_waiter* waiter;  // non-null: run its action if it has one
  };

  void run_item(const ready_item& item) {
    if (item.waiter != nullptr && item.waiter->action != nullptr) {
      item.waiter->action(item.waiter);
      return;
    }
    drive(item.handle);
  }
  // Moves posted wake-ups to the ready queue, oldest first.
  void take_inbox() {
    if (inbox_.load(std::memory_order_relaxed) == nullptr) return;
    // (L1) acquire: pairs with (P1); the posters' writes come with the nodes.
    loop_waiter* n = inbox_.exchange(nullptr, std::memory_order_acquire);
    loop_waiter* ordered = nullptr;
    while (n != nullptr) {
      loop_waiter* following = n->next;
      n->next = ordered;
      ordered = n;
      n = following;
    }
    for (; ordered != nullptr; ordered = ordered->next) schedule(ordered);
  }
  void fire_timers() {
    if (timers_.empty()) return;
    const steady_time now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.front()->deadline <= now) {
      loop_timer* t = timers_.front();
      disarm(*t);
      t->fire();
    }
  }
  // Runs the coroutines ready now; those they make ready run next round,
  // after the inbox and the timers had their turn.
  void run_ready() {
    for (std::size_t n = ready_.size(); n > 0 && !ready_.empty(); --n) {
      run_item(ready_.pop_front());
    }
  }
  void sleep() {
    const steady_time deadline = timers_.empty() ? steady_time::max() : timers_.front()->deadline;
    const std::uint32_t seen = wake_word_.load(std::memory_order_seq_cst);
    sleeping_.store(true, std::memory_order_seq_cst);  // (S1)
    // (S2) seq_cst: see (P2).
    if (inbox_.load(std::memory_order_seq_cst) == nullptr) {
      if (loop_driver* d = driver()) {
        d->wait(deadline);
      } else {
        futex_wait(wake_word_, seen,
                   deadline == steady_time::max() ? wait_policy::forever() : wait_policy::until(deadline),
                   futex_scope::process_private);
      }
    }
    sleeping_.store(false, std::memory_order_relaxed);  // a late wake() is only a spurious one
  }
  // Any thread. Both wake-ups, when a driver is in: a poster that saw no
  // driver yet may race with its installation.
  void wake() noexcept {
    if (loop_driver* d = driver_.load(std::memory_order_acquire)) d->wake();  // acquire: pairs with adopt_driver
    wake_word_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(wake_word_, 1, futex_scope::process_private);
  }

  // Binary min-heap on (deadline, sequence).
  bool earlier(std::size_t a, std::size_t b) const noexcept {
    const loop_timer* x = timers_[a];
    const loop_timer* y = timers_[b];
    return x->deadline != y->deadline ? x->deadline < y->deadline : x->sequence < y->sequence;
  }
  void swap_timers(std::size_t a, std::size_t b) noexcept {
    std::swap(timers_[a], timers_[b]);
    timers_[a]->index = a;
    timers_[b]->index = b;
  }
  void sift_up(std::size_t i) noexcept {
    while (i > 0 && earlier(i, (i - 1) / 2)) {
      swap_timers(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void sift_down(std::size_t i) noexcept {
    for (;;) {
      std::size_t least = i;
      for (std::size_t child = 2 * i + 1; child <= 2 * i + 2 && child < timers_.size(); ++child)
        if (earlier(child, least)) least = child;
      if (least == i) return;
      swap_timers(i, least);
      i = least;
    }
  }

  ring_queue<ready_item> ready_;                   // loop thread only
  std::vector<loop_timer*> timers_;                // loop thread only; heap
  std::uint64_t timer_sequence_ = 0;               // loop thread only
  std::coroutine_handle<> next_;                   // loop thread only; continuation slot
  std::size_t live_ = 0;                           // loop thread only
  std::size_t incoming_ = 0;                       // loop thread only
  std::unique_ptr<loop_driver> owned_driver_;      // loop thread only
  std::atomic<loop_driver*> driver_{nullptr};      // written by the loop thread; read by wake()
  std::atomic<loop_waiter*> inbox_{nullptr};       // protocol (P1)/(L1)
  std::atomic<bool> sleeping_{false};              // protocol (S1)/(S2)/(P2)
  std::atomic<std::uint32_t> wake_word_{0};        // futex word; bumped by wake()
  std::atomic<int> posting_{0};                    // posters inside post(): protocol (P0)/(P3)
};

template <class Done>
void event_loop::run_until(Done done) {
  for (;;) {
    take_inbox();
    fire_timers();
    if (loop_driver* d = driver()) d->poll();
    if (!ready_.empty()) {
      run_ready();
      continue;
    }
    if (done()) return;
    sleep();
  }
}

// Makes `loop` the calling thread's loop for a scope, restoring the previous
// one after (a task spawned on a pool runs a loop of its own on the worker).
class loop_scope {
 public:
  explicit loop_scope(event_loop& loop) noexcept : previous_(std::exchange(event_loop::current(), &loop)) {}
  ~loop_scope() { event_loop::current() = previous_; }
  loop_scope(const loop_scope&) = delete;
  loop_scope& operator=(const loop_scope&) = delete;

 private:
  event_loop* previous_;
};

}  // namespace weft::detail
