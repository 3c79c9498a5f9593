// weft — MIT licence. See LICENSE.
//
// <weft/detail/async_wait_list.hpp> — internal: coroutines waiting on a
// structure that threads change too (bounded_queue's async_push, async_pop,
// async_join). Not API.
//
// A waiting coroutine is an async_op in a FIFO list. Whoever changes the
// structure (a thread's push, another loop's pop, close()) calls notify(),
// which serves the list: it tries each waiter's operation on the waiter's
// behalf (try_pop into the waiter's frame, say) and wakes it on its own
// loop once the operation is over. So a woken coroutine never retries, and
// an item taken for it is delivered even if it is cancelled meanwhile.
//
// Protocol (no lost wake-up), Dekker-style:
//   waiter:  (Q1) link, waiting_ += 1   (Q2) heavy fence   (Q3) serve: try the op
//   changer: (K1) change the structure  (K2) read waiting_  (K3) serve if > 0
// A changer orders K1 before K2 with a seq_cst operation or fence, or, on
// its hot path, with a release store and asymmetric_fence::light() (which
// bounded_queue's push and pop use): Q2 is asymmetric_fence::heavy(), which
// pairs with either. Either K2 sees Q1 and serves, or Q3 sees K1. Serving the same waiter twice
// is excluded by its `where` state (guarded by mutex_): one server at a time
// holds it out of the list ("serving") while it tries the operation.
// A server that failed relinks the waiter and tries again if the epoch moved
// meanwhile (a change whose notify() found the waiter out of the list).
#pragma once

#include <weft/detail/asymmetric_fence.hpp>
#include <weft/detail/coro_core.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace weft::detail {

class async_op : public suspension {
 public:
  using suspension::suspension;
  // Tries the operation once, never blocking; true when it is over (done,
  // or failed for good: its outcome is stored for await_resume). Runs on
  // the serving thread, which may be any thread.
  virtual bool attempt() noexcept = 0;
  // Set when a stop request removed the waiter from its list.
  bool cancelled() const noexcept { return cancelled_; }

 private:
  friend class async_wait_list;
  enum class where : unsigned char { outside, queued, serving, done };
  async_op* prev_ = nullptr;        // guarded by the list's mutex_
  async_op* next_ = nullptr;        // guarded by the list's mutex_
  where where_ = where::outside;    // guarded by the list's mutex_
  bool cancel_requested_ = false;   // guarded by the list's mutex_
  bool cancelled_ = false;          // written under mutex_ before the wake-up; read after it
};

class async_wait_list {
 public:
  async_wait_list() = default;
  async_wait_list(const async_wait_list&) = delete;
  async_wait_list& operator=(const async_wait_list&) = delete;

  // (K2)+(K3): after a seq_cst change (K1) that may let a waiter finish.
  // Costs one load when nobody waits.
  void notify() {
    if (waiting_.load(std::memory_order_seq_cst) == 0) return;
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    serve_once_per_thread();
  }
  // From await_suspend: queue w (Q1, Q2) and serve (Q3); w may be served,
  // and woken, before this returns.
  void enqueue(async_op* w) {
    {
      std::lock_guard lock(mutex_);
      link_back(w);
      waiting_.fetch_add(1, std::memory_order_seq_cst);   // Q1
    }
    // Q2: the op's loads in Q3 are acquire only. heavy(): pairs with a
    // changer's seq_cst fence or RMW, and with light() after a release
    // store. (Should a membarrier fail after registration, heavy() falls
    // back to a fence; a light() racing with that failure is the one case
    // it cannot cover, as in asymmetric_fence.) Under TSan heavy() is a
    // no-op and changers' K1 stores are seq_cst; the fence keeps the
    // hardware ordering there.
    asymmetric_fence::heavy();
    if constexpr (asymmetric_fence::tsan) std::atomic_thread_fence(std::memory_order_seq_cst);
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    serve_once_per_thread();
  }
  // Loop thread, from w's cancel hook: true when w was still queued and is
  // now removed (resume it as cancelled); false when a server holds it or
  // finished it (it will be woken with its outcome).
  bool cancel(async_op* w) noexcept {
    std::lock_guard lock(mutex_);
    if (w->where_ == async_op::where::serving) {
      w->cancel_requested_ = true;
      return false;
    }
    if (w->where_ != async_op::where::queued) return false;
    unlink(w);
    retire(w);
    w->cancelled_ = true;
    return true;
  }

 private:
  // Serving runs operations, which notify lists in turn (a pop for a
  // waiter frees a slot for a waiting pusher): those lists are served after
  // the current one, by the outermost server on this thread, so that the
  // stack stays flat however many waiters hand items to each other.
  struct serving_thread {
    bool active = false;
    std::vector<async_wait_list*> later;
  };
  static serving_thread& this_thread_serving() {
    static thread_local serving_thread state;
    return state;
  }
  void serve_once_per_thread() {
    serving_thread& st = this_thread_serving();
    if (st.active) {
      if (std::find(st.later.begin(), st.later.end(), this) == st.later.end()) st.later.push_back(this);
      return;
    }
    st.active = true;
    struct reset {
      serving_thread& st;
      ~reset() { st.active = false; }
    } guard{st};
    serve();
    while (!st.later.empty()) {
      async_wait_list* next = st.later.back();
      st.later.pop_back();
      next->serve();
    }
  }
  void serve() {
    for (;;) {
      const std::uint64_t epoch = epoch_.load(std::memory_order_seq_cst);
      async_op* w;
      {
        std::lock_guard lock(mutex_);
        w = head_;
        if (w == nullptr) return;
        unlink(w);
        w->where_ = async_op::where::serving;
      }
      const bool over = w->attempt();
      {
        std::lock_guard lock(mutex_);
        if (over) {
          retire(w);
        } else if (w->cancel_requested_) {
          retire(w);
          w->cancelled_ = true;
        } else {
          link_front(w);
          w = nullptr;
        }
      }
      if (w != nullptr) {
        w->wake();
        continue;
      }
      if (epoch_.load(std::memory_order_seq_cst) == epoch) return;  // nothing changed while we tried
    }
  }
  void retire(async_op* w) noexcept {  // mutex_ held
    w->where_ = async_op::where::done;
    waiting_.fetch_sub(1, std::memory_order_relaxed);  // a hint for notify(); the mutex orders the list
  }
  void link_back(async_op* w) noexcept {  // mutex_ held
    w->prev_ = tail_;
    w->next_ = nullptr;
    (tail_ != nullptr ? tail_->next_ : head_) = w;
    tail_ = w;
    w->where_ = async_op::where::queued;
  }
  void link_front(async_op* w) noexcept {  // mutex_ held
    w->prev_ = nullptr;
    w->next_ = head_;
    (head_ != nullptr ? head_->prev_ : tail_) = w;
    head_ = w;
    w->where_ = async_op::where::queued;
  }
  void unlink(async_op* w) noexcept {  // mutex_ held
    (w->prev_ != nullptr ? w->prev_->next_ : head_) = w->next_;
    (w->next_ != nullptr ? w->next_->prev_ : tail_) = w->prev_;
    w->prev_ = w->next_ = nullptr;
    w->where_ = async_op::where::outside;
  }

  std::mutex mutex_;
  async_op* head_ = nullptr;                // guarded by mutex_
  async_op* tail_ = nullptr;                // guarded by mutex_
  std::atomic<std::size_t> waiting_{0};     // queued or being served: protocol (Q1)/(K2)
  std::atomic<std::uint64_t> epoch_{0};     // bumped by every notify() that serves
};

}  // namespace weft::detail
