// weft — MIT licence. See LICENSE.
//
// <weft/bounded_queue.hpp> — a bounded, blocking, multi-producer
// multi-consumer FIFO queue: the C++ counterpart of Python's `queue.Queue`
// (with `maxsize`), plus Go-style close().
#pragma once

#include <weft/detail/async_wait_list.hpp>
#include <weft/detail/asymmetric_fence.hpp>
#include <weft/detail/config.hpp>
#include <weft/detail/initialize.hpp>
#include <weft/detail/wait.hpp>
#include <weft/error.hpp>

#include <atomic>
#include <bit>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace weft {

// A bounded MPMC queue of T (like Python's `queue.Queue(maxsize=capacity)`).
//
// Thread-safety: every member may be called concurrently from any number of
//   threads, except construction and destruction, which must not race with
//   any other call (destroy only after every user has returned).
// Blocking: push()/emplace() block while the queue is full, pop() while it is
//   empty. A waiter spins briefly (spin_limit pauses, then yield_limit
//   yields), then sleeps on its slot's futex after one membarrier(2) call
//   (see "Wake-ups" below); it is woken by the operation that frees or
//   fills its slot, or by close().
//   try_* never wait for another thread: they claim a slot only once it is
//   already full (try_pop) or already free (try_push), and otherwise fail.
//   *_for / *_until sleep at most until their deadline.
// Exceptions: the constructor throws std::invalid_argument for capacity 0.
//   Producers throw weft::queue_closed once close() was called, including
//   producers already blocked in push() (their item is not enqueued). A
//   throwing T constructor in push()/emplace() propagates; the item is not
//   enqueued and the queue stays consistent. try_push() moves from its
//   argument only when it returns true. task_done() throws std::logic_error
//   when called more often than items were popped. If T's move constructor
//   throws inside pop(), that item is destroyed (counted as done for join())
//   and the exception propagates.
// Ordering: FIFO per producer; every item pushed is popped exactly once.
//   Writes a thread made before push(x) are visible to the thread that pops x.
//   After close(), items already in the queue are still delivered; pop()
//   returns std::nullopt only once the queue is closed and drained.
// Cost: O(1) per operation. push: one fetch_add on the push index, a
//   compare-exchange and a release store on the item's own slot. pop: one
//   fetch_add on the pop index, one on a consumer-side count (task_done()'s
//   misuse check) and a release store on the slot. No allocation after
//   construction, no system call unless a thread sleeps (then a futex wait,
//   preceded by one membarrier). Memory: capacity slots, each at least one
//   cache line.
// Lifetime: the destructor destroys items still queued.
//
// Design: a ring of `capacity` slots, each with a 32-bit `turn` word (after
// Vyukov's bounded MPMC queue and the ticket variant in rigtorp/MPMCQueue).
// Blocking producers and consumers take a ticket t with fetch_add on
// push_side_.tickets / pop_side_.tickets and then own the slot t % capacity for round t / capacity. try_*
// claim a ticket with a compare-exchange only when the ticket's slot is
// already in the state they need (full for try_pop, empty for try_push): a
// ticket whose party is still in flight (a producer blocked behind a
// stalled consumer, say) is never claimed, so try_* never wait.
//
// Slot turn for round r (base = 8r, modulo 2^32):
//   base + 0  empty: producer r may claim      (set by consumer r-1 or void)
//   base + 1  writing: producer r constructs   (set by producer r, CAS)
//   base + 2  full: consumer r may take        (set by producer r)
//   base + 8  round r done (taken or voided)   (set by consumer r, or by
//             producer r when T's constructor throws)
//   bit 2     "poke": set once by close() on every slot so that a thread
//             about to sleep on the old value wakes; masked by strip().
// Legal transitions: 0 -> 1 -> 2 -> 8 (normal), 0 -> 8 (void: closed and the
// producer never came), 1 -> 8 (the item's constructor threw in the slot).
// A constructor that may throw runs before the ticket is taken whenever T's
// move is noexcept, so 1 -> 8 happens only for T with a throwing move. Such
// a void is a ticket without an item: base + 8 is round r+1's 'empty', so
// the slot is free for the next producer at once; consumer r (blocking,
// try_ or timed alike) treats any turn at or past base + 2 as ready and
// skips the round; size() leaves it out (voided_).
// A consumer that meets a voided round takes another ticket.
//
// Wake-ups (protocol P), Dekker-style, after folly's asymmetric barriers:
//   sleeper: (W1) slot's sleepers += 1   (W2) heavy()   (W3) re-read turn
//            (W4) futex_wait(turn) unless ready
//   changer: (C1) store turn (release)   (C2) light()   (C3) read sleepers,
//            futex_wake if > 0
// light() and heavy() order like two seq_cst fences (asymmetric_fence), so
// either C3 sees W1 and wakes, or W3 sees C1 and does not sleep; a change
// between W3 and W4 fails the kernel's value check in W4. With membarrier
// light() is a compiler barrier: a push or pop pays no full fence (the xchg
// that published a turn, with the sleeper check behind it, was a third of a
// 1p1c push's time in perf), and the thread about to sleep pays one
// membarrier system call on top of its futex wait. async_wait_list's (Q2)
// is a heavy() as well, so the same light() orders C1 before notify()'s
// read of the list's waiter count (K2).
//
// Completion tracking (protocol J): join() waits until finished equals the
// push tickets issued. Each ticket is finished exactly once: by task_done()
// for its item, by the consumer when T's move throws in pop() (the item is
// destroyed), or by its producer when the push fails (closed, or T's
// constructor threw in the slot). So a push keeps no count of its own; a
// push in progress counts as pushed (it is concurrent with join(), which
// then waits for its item too).
//
// Close: close() sets the closed bit of the push tickets (so no later ticket is valid),
// records close_ticket_ = the number of tickets handed out before, then sets
// closed_. A consumer whose ticket is >= close_ticket_ returns std::nullopt;
// a consumer whose ticket is below it waits for its item, or voids the round
// if the slot is still empty (its producer was blocked and gave up).
template <class T>
class bounded_queue {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>,
                "weft::bounded_queue<T>: T must be an object type (use std::array for arrays)");
  static_assert(std::is_move_constructible_v<T>,
                "weft::bounded_queue<T>: T must be move constructible");
  static_assert(std::is_nothrow_destructible_v<T>,
                "weft::bounded_queue<T>: T's destructor must not throw");

  class consume_range;

 public:
  using value_type = T;
  using size_type = std::size_t;

  // Creates an empty queue holding at most `capacity` items.
  // Throws std::invalid_argument if capacity is 0 or absurdly large,
  // std::bad_alloc if the ring cannot be allocated.
  explicit bounded_queue(size_type capacity);
  ~bounded_queue();
  bounded_queue(const bounded_queue&) = delete;
  bounded_queue& operator=(const bounded_queue&) = delete;

  // ---- producers ----
  // Appends value, waiting while the queue is full.
  // Thread-safe. Blocks while full. Throws weft::queue_closed. O(1).
  void push(T value) { emplace(std::move(value)); }
  // Constructs an item in place from args, waiting while the queue is full.
  // Thread-safe. Blocks while full. Throws weft::queue_closed or what T's
  // constructor throws (the item is then not enqueued). O(1).
  template <class... Args>
  void emplace(Args&&... args);
  // Appends value if there is room now; false when full. Moves from value
  // only on success. Thread-safe. Never sleeps. Throws weft::queue_closed.
  bool try_push(T&& value);
  bool try_push(const T& value);
  // Like try_push, waiting up to `timeout` for room.
  // Thread-safe. Blocks at most `timeout`. Throws weft::queue_closed.
  template <class Rep, class Period>
  bool try_push_for(T&& value, std::chrono::duration<Rep, Period> timeout) {
    return push_waiting(std::move(value), detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  bool try_push_until(T&& value, std::chrono::time_point<Clock, Duration> deadline) {
    return push_waiting(std::move(value), detail::wait_policy::until(deadline));
  }

  // ---- consumers ----
  // Removes the oldest item, waiting while the queue is empty; std::nullopt
  // only when the queue is closed and drained.
  // Thread-safe. Blocks while empty and open. O(1).
  std::optional<T> pop();
  // Removes an item if one is present; std::nullopt when empty (or closed and
  // drained). Thread-safe. Never sleeps. O(1).
  std::optional<T> try_pop();
  // Like pop(), waiting at most `timeout`; std::nullopt on timeout or when
  // closed and drained. Thread-safe. Blocks at most `timeout`.
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) {
    return pop_waiting(detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  std::optional<T> pop_until(std::chrono::time_point<Clock, Duration> deadline) {
    return pop_waiting(detail::wait_policy::until(deadline));
  }
  // A range for `for (T& item : q.consume())`: each step pop()s; the loop
  // ends when the queue is closed and drained. Single pass.
  consume_range consume() noexcept { return consume_range(*this); }

  // ---- closing ----
  // Closes the queue: later pushes throw weft::queue_closed, every blocked
  // thread wakes, queued items are still delivered. Idempotent.
  // Thread-safe. Never blocks. O(capacity) once.
  void close() noexcept;
  // acquire: pairs with close()'s seq_cst store of closed_ (close_ticket_ is then visible).
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // ---- completion tracking (Python's task_done / join) ----
  // Marks one popped item as processed. Thread-safe. Throws std::logic_error
  // when called more often than items were popped.
  void task_done();
  // Waits until every item pushed so far has been marked done; a push still
  // in progress when join() looks (concurrent with it) counts as pushed.
  // Thread-safe. Blocks until then (close() does not end the wait).
  void join();

  // ---- coroutines (asyncio.Queue; see <weft/task.hpp>) ----
  // Inside a weft::task, these suspend the task instead of blocking the
  // thread; threads and tasks on any loops share one queue, and whoever
  // frees a slot or fills one (a thread's push, say) completes a waiting
  // task's operation for it and wakes the task on its own loop.
  // co_await q.async_push(v): push() for a task. Throws weft::queue_closed,
  // or weft::cancelled if the task is cancelled while it waits (v is then
  // not enqueued). O(1); no allocation.
  auto async_push(T value) { return push_request{this, std::move(value)}; }
  // co_await q.async_pop() -> std::optional<T>: pop() for a task; nullopt
  // when closed and drained. An item taken for a task that is cancelled
  // meanwhile is still returned (the next co_await throws). O(1).
  auto async_pop() noexcept { return pop_request{this}; }
  // co_await q.async_join(): join() for a task.
  auto async_join() noexcept { return join_request{this}; }

  // ---- observers (snapshots: may be stale as soon as they return) ----
  size_type size() const noexcept;
  size_type capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size() == 0; }
  bool full() const noexcept { return size() >= capacity_; }

 private:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  static constexpr std::uint32_t writing = 1, full_state = 2, poke = 4, round_step = 8;

  // At least a cache line apart, and never less aligned than T ([dcl.align]:
  // a class may not be less aligned than its members).
  struct alignas(alignof(T) > detail::cache_line ? alignof(T) : detail::cache_line) slot {
    detail::parking_word<> turn;  // atomic, protocol above
    alignas(T) unsigned char storage[sizeof(T)];
    T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  enum class outcome { item, voided, closed_end };

  static std::uint32_t strip(std::uint32_t turn) noexcept { return turn & ~poke; }
  // Debug check of a slot transition's precondition (relaxed: the caller
  // owns the slot in this state, so no other thread may change it).
  static void assert_turn([[maybe_unused]] slot& s, [[maybe_unused]] std::uint32_t expected,
                          [[maybe_unused]] const char* what) noexcept {
    WEFT_ASSERT(strip(s.turn.value.load(std::memory_order_relaxed)) == expected, what);
  }
  // Signed distance of a turn from `want`, modulo 2^32: > 0 means later.
  static std::int32_t distance(std::uint32_t turn, std::uint32_t want) noexcept {
    return static_cast<std::int32_t>(strip(turn) - want);
  }
  std::uint64_t round_of(std::uint64_t ticket) const noexcept {
    return pow2_ ? ticket >> shift_ : ticket / capacity_;
  }
  std::size_t index_of(std::uint64_t ticket) const noexcept {
    return pow2_ ? static_cast<std::size_t>(ticket & (capacity_ - 1))
                 : static_cast<std::size_t>(ticket % capacity_);
  }
  slot& slot_of(std::uint64_t ticket) noexcept { return slots_[index_of(ticket)]; }
  std::uint32_t base_of(std::uint64_t ticket) const noexcept {
    return static_cast<std::uint32_t>(round_of(ticket) * round_step);  // wraps on purpose
  }
  std::uint64_t tickets_issued() const noexcept {
    // acquire: pairs with the push tickets' RMWs (ticket order only, no data).
    return push_side_.tickets.load(std::memory_order_acquire) & ~closed_bit;
  }

  static constexpr auto scope = detail::futex_scope::process_private;
  // (C1)-(C3) of protocol P: the hot store of a turn word and the wake-up.
  void publish(slot& s, std::uint32_t turn) noexcept;
  // (W1)-(W4) of protocol P: waits until ready(turn) holds and returns that
  // turn; std::nullopt when give_up() holds before a sleep or the policy expires.
  template <class Ready, class GiveUp>
  std::optional<std::uint32_t> await_turn(slot& s, Ready ready, GiveUp give_up,
                                          const detail::wait_policy& policy);
  // Protocol J. Tickets ever issued, with or without a pushed item.
  std::uint64_t pushes_begun() const noexcept {
    // seq_cst: (J2) in all_done() and (F2) in finish().
    return push_side_.tickets.load(std::memory_order_seq_cst) & ~closed_bit;
  }
  bool all_done() const noexcept {
    // (J1) seq_cst (acquire: pairs with finish()'s RMW (F1), so the work
    // before every task_done() happens before join() returns). finished is
    // read before the tickets (J2): a ticket is issued before it is
    // finished, so finished(J1) <= issued(J1) <= issued(J2), and equality
    // means every ticket issued by J1 was finished.
    const std::uint64_t finished = pop_side_.finished.load(std::memory_order_seq_cst);
    return finished == pushes_begun();
  }
  // One ticket is over for join(): (F1) count it, (F2) wake joiners when
  // it was the last one issued.
  void finish() noexcept;

  template <class... Args>
  void produce(std::uint64_t ticket, Args&&... args);
  outcome consume(std::uint64_t ticket, std::optional<T>& out);
  void take(slot& s, std::uint32_t base, std::optional<T>& out);
  enum class try_result { item, empty, drained };
  try_result try_pop_into(std::optional<T>& out);
  bool push_waiting(T&& value, const detail::wait_policy& policy);
  std::uint64_t take_producer_ticket();
  std::optional<T> pop_waiting(const detail::wait_policy& policy);
  bool closed_before(std::uint64_t ticket) const noexcept {
    // acquire, then relaxed: as in closed(); the store of closed_ publishes close_ticket_.
    return closed_.load(std::memory_order_acquire) &&
           ticket >= close_ticket_.load(std::memory_order_relaxed);
  }

  // The awaiters behind async_*: each one's attempt() is the try_ form of
  // its operation, run by whichever thread serves the wait list.
  class pop_op final : public detail::async_op {
   public:
    pop_op(detail::task_context& ctx, bounded_queue* q) noexcept : async_op(ctx), q_(q) {}
    bool await_ready() { return q_->try_pop_into(out_) != try_result::empty; }
    void await_suspend(std::coroutine_handle<> h) {
      suspend(h);
      q_->poppers_.enqueue(this);
    }
    std::optional<T> await_resume() {
      if (cancelled()) detail::throw_task_cancelled();
      if (error_) std::rethrow_exception(error_);
      return std::move(out_);
    }
    bool attempt() noexcept override {
      try {
        return q_->try_pop_into(out_) != try_result::empty;
      } catch (...) {  // T's move constructor
        error_ = std::current_exception();
        return true;
      }
    }
    void on_cancel() noexcept override {
      if (q_->poppers_.cancel(this)) context().loop().schedule(this);
    }

   private:
    bounded_queue* q_;
    std::optional<T> out_;
    std::exception_ptr error_;
  };
  class push_op final : public detail::async_op {
   public:
    push_op(detail::task_context& ctx, bounded_queue* q, T&& value) : async_op(ctx), q_(q), value_(std::move(value)) {}
    bool await_ready() { return pushed_ = q_->try_push(std::move(value_)); }
    void await_suspend(std::coroutine_handle<> h) {
      suspend(h);
      q_->pushers_.enqueue(this);
    }
    void await_resume() {
      if (pushed_) return;
      if (cancelled()) detail::throw_task_cancelled();
      if (error_) std::rethrow_exception(error_);
    }
    bool attempt() noexcept override {
      try {
        return pushed_ = q_->try_push(std::move(value_));
      } catch (...) {  // queue_closed, or T's move constructor
        error_ = std::current_exception();
        return true;
      }
    }
    void on_cancel() noexcept override {
      if (q_->pushers_.cancel(this)) context().loop().schedule(this);
    }

   private:
    bounded_queue* q_;
    T value_;
    bool pushed_ = false;
    std::exception_ptr error_;
  };
  class join_op final : public detail::async_op {
   public:
    join_op(detail::task_context& ctx, bounded_queue* q) noexcept : async_op(ctx), q_(q) {}
    bool await_ready() noexcept { return attempt(); }
    void await_suspend(std::coroutine_handle<> h) {
      suspend(h);
      q_->joiners_.enqueue(this);
    }
    void await_resume() const {
      if (cancelled()) detail::throw_task_cancelled();
    }
    // As join(): protocol J.
    bool attempt() noexcept override { return q_->all_done(); }
    void on_cancel() noexcept override {
      if (q_->joiners_.cancel(this)) context().loop().schedule(this);
    }

   private:
    bounded_queue* q_;
  };
  struct pop_request {
    bounded_queue* q;
    pop_op make_awaiter(detail::task_context& ctx) const noexcept { return pop_op(ctx, q); }
  };
  struct push_request {
    bounded_queue* q;
    T value;
    push_op make_awaiter(detail::task_context& ctx) && { return push_op(ctx, q, std::move(value)); }
  };
  struct join_request {
    bounded_queue* q;
    join_op make_awaiter(detail::task_context& ctx) const noexcept { return join_op(ctx, q); }
  };

  class consume_range {
   public:
    class iterator {
     public:
      using value_type = T;
      using difference_type = std::ptrdiff_t;
      iterator() = default;
      T& operator*() const noexcept { return *current_; }
      T* operator->() const noexcept { return &*current_; }
      iterator& operator++() { current_ = queue_->pop(); return *this; }
      void operator++(int) { ++*this; }
      bool operator==(std::default_sentinel_t) const noexcept { return !current_.has_value(); }

     private:
      friend class consume_range;
      explicit iterator(bounded_queue* q) : queue_(q), current_(q->pop()) {}
      bounded_queue* queue_ = nullptr;
      mutable std::optional<T> current_;
    };
    iterator begin() { return iterator(queue_); }
    std::default_sentinel_t end() const noexcept { return {}; }

   private:
    friend class bounded_queue;
    explicit consume_range(bounded_queue& q) noexcept : queue_(&q) {}
    bounded_queue* queue_;
  };

  const size_type capacity_;
  const bool pow2_;
  const unsigned shift_;
  std::unique_ptr<slot[]> slots_;

  // Producer side, one false-sharing range of its own.
  struct alignas(detail::false_sharing_range) producer_side {
    std::atomic<std::uint64_t> tickets{0};     // push tickets issued | closed_bit
  } push_side_;
  // Consumer side (task_done() runs on consumers).
  struct alignas(detail::false_sharing_range) consumer_side {
    std::atomic<std::uint64_t> tickets{0};        // pop tickets issued
    std::atomic<std::uint64_t> popped_undone{0};  // popped and not task_done(): misuse check
    std::atomic<std::uint64_t> finished{0};       // push tickets over: protocol J (F1)
  } pop_side_;
  alignas(detail::false_sharing_range) std::atomic<bool> closed_{false};  // set once by close()
  std::atomic<std::uint64_t> close_ticket_{0};  // written before closed_ (release), read after (acquire)
  // Rounds voided by a throwing constructor (1 -> 8) whose consumer has not
  // passed them yet: size() leaves them out. Rare, so a line shared with
  // closed_ costs nothing. relaxed: a count only; the producer's increment
  // precedes the void's store (B'), which the consumer's decrement follows
  // via its acquire (C), so the count never goes below zero.
  std::atomic<std::uint64_t> voided_{0};
  // Bumped by (F2) when every ticket issued is finished; join() sleeps on
  // it. A line apart from closed_ and the lists' waiter counts, which every
  // push and pop reads.
  alignas(detail::false_sharing_range) detail::parking_word<> join_epoch_;
  // Tasks waiting in async_pop / async_push / async_join (see async_wait_list):
  // notified after every change that may let them finish.
  detail::async_wait_list poppers_;
  detail::async_wait_list pushers_;
  detail::async_wait_list joiners_;
};

// ---- implementation ----

template <class T>
bounded_queue<T>::bounded_queue(size_type capacity)
    : capacity_(capacity),
      pow2_(capacity != 0 && std::has_single_bit(capacity)),
      shift_(capacity != 0 ? static_cast<unsigned>(std::countr_zero(capacity)) : 0) {
  // Layout: producers' and consumers' counters a false-sharing range apart.
  static_assert(alignof(producer_side) >= detail::false_sharing_range &&
                    alignof(consumer_side) >= detail::false_sharing_range,
                "bounded_queue: the push and pop tickets must not share a cache-line pair");
  static_assert(sizeof(slot) % detail::cache_line == 0 && alignof(slot) >= alignof(T),
                "bounded_queue: slots must be whole cache lines and aligned for T");
  static_assert(offsetof(slot, turn) == 0 && offsetof(slot, storage) % alignof(T) == 0,
                "bounded_queue: a slot is its turn word, then the item's storage");
  if (capacity == 0) throw std::invalid_argument("weft::bounded_queue: capacity must be at least 1");
  if (capacity > (size_type{1} << 40))
    throw std::invalid_argument("weft::bounded_queue: capacity exceeds 2^40 items");
  slots_ = std::make_unique<slot[]>(capacity);
  // Slot i starts in round 0, empty: turn = 0 (value-initialized).
  // Protocol P's light()/heavy() mode, decided before any thread can use
  // this queue (every user gets the queue after this constructor returns).
  detail::asymmetric_fence::prepare();
}

template <class T>
bounded_queue<T>::~bounded_queue() {
  for (size_type i = 0; i < capacity_; ++i) {
    // acquire: pairs with (B); the destructor runs after every producer, but
    // the item's construction must be visible to this thread.
    if ((strip(slots_[i].turn.value.load(std::memory_order_acquire)) & (round_step - 1)) == full_state)
      slots_[i].item()->~T();
  }
}

template <class T>
template <class... Args>
void bounded_queue<T>::emplace(Args&&... args) {
  if (closed()) throw queue_closed();  // early out: spare a wasted ticket
  if constexpr (!detail::nothrow_initializable<T, Args...>() &&
                std::is_nothrow_move_constructible_v<T>) {
    // Build the item before taking a ticket, so that a throwing constructor
    // leaves no trace in the ring; the move into the slot cannot throw.
    T item = detail::initialize<T>(std::forward<Args>(args)...);
    produce(take_producer_ticket(), std::move(item));
  } else {
    produce(take_producer_ticket(), std::forward<Args>(args)...);
  }
}

template <class T>
std::uint64_t bounded_queue<T>::take_producer_ticket() {
  // relaxed would order the tickets (the RMW's modification order is the
  // FIFO order); acq_rel additionally makes close()'s fetch_or (acq_rel) and
  // this increment see each other's side: the ticket is valid exactly when
  // it was issued before the closed bit. No item data rides on it: items
  // travel through the slot's turn word (B)/(C).
  std::uint64_t ticket = push_side_.tickets.fetch_add(1, std::memory_order_acq_rel);
  if (ticket & closed_bit) {  // issued after close(): never valid
    finish();                  // protocol J: the ticket is over
    throw queue_closed();
  }
  return ticket;
}

// Waits for the ticket's slot to be empty in its round, claims it, constructs
// the item and publishes it. Throws queue_closed when the queue closes while
// the slot is still occupied, or when a consumer voided the round.
template <class T>
template <class... Args>
void bounded_queue<T>::produce(std::uint64_t ticket, Args&&... args) {
  slot& s = slot_of(ticket);
  const std::uint32_t base = base_of(ticket);
  for (;;) {
    auto turn = await_turn(s, [&](std::uint32_t v) { return distance(v, base) >= 0; },
                           [&] { return closed(); }, detail::wait_policy::forever());
    if (!turn || distance(*turn, base) > 0) {  // gave up, or voided
      finish();  // protocol J: the ticket is over (consume() voids the round)
      throw queue_closed();
    }
    std::uint32_t seen = *turn;
    // (A) claim. acquire: pairs with the release in (D) of consumer r-1, so
    // its destruction of the previous item happens before we construct. The
    // CAS decides the race with a consumer voiding this round in consume().
    if (s.turn.value.compare_exchange_strong(seen, base + writing, std::memory_order_acquire))
      break;
  }
  // Only this producer moves the slot out of 'writing' (1 -> 2, or 1 -> 8).
  assert_turn(s, base + writing, "bounded_queue: a slot this producer claimed is not 'writing'");
  try {
    detail::initialize_at<T>(static_cast<void*>(s.storage), std::forward<Args>(args)...);
  } catch (...) {
    assert_turn(s, base + writing, "bounded_queue: slot left 'writing' while its producer constructed");
    voided_.fetch_add(1, std::memory_order_relaxed);  // relaxed: see voided_
    // (B') void the round (1 -> 8): consumer r skips it. seq_cst store and
    // load (rare path): a full (C1)-(C3) of protocol P on its own.
    s.turn.store_and_wake(base + round_step);
    poppers_.notify();
    pushers_.notify();
    finish();  // protocol J: the ticket is over
    throw;
  }
  assert_turn(s, base + writing, "bounded_queue: slot left 'writing' while its producer constructed");
  // (B) publish: (C1)-(C3) of protocol P. The release store pairs with the
  // acquire in (C): the item's construction happens before its pop.
  publish(s, base + full_state);
  poppers_.notify();  // (K2) of async_wait_list, after (B) and its light()
}

template <class T>
std::optional<T> bounded_queue<T>::pop() {
  std::optional<T> out;
  for (;;) {
    // acq_rel: the ticket order only; items travel through (B)/(C). Pairs
    // with try_pop_into()'s CAS on the same counter (one modification order).
    std::uint64_t ticket = pop_side_.tickets.fetch_add(1, std::memory_order_acq_rel);
    if (consume(ticket, out) != outcome::voided) return out;
  }
}

// Takes the item of `ticket`, waiting for its producer. Returns voided when
// the round holds no item (the caller takes a new ticket) and closed_end when
// the queue closed before this ticket could be filled.
template <class T>
typename bounded_queue<T>::outcome bounded_queue<T>::consume(std::uint64_t ticket,
                                                             std::optional<T>& out) {
  slot& s = slot_of(ticket);
  const std::uint32_t base = base_of(ticket);
  for (;;) {
    // (C) acquire: pairs with (B); the item's construction happens before.
    auto turn = await_turn(
        s, [&](std::uint32_t v) { return distance(v, base + full_state) >= 0; },
        [&] {
          if (!closed()) return false;
          // relaxed: closed() (acquire) read true, which pairs with close()'s
          // seq_cst store of closed_ after it wrote close_ticket_.
          return ticket >= close_ticket_.load(std::memory_order_relaxed) ||
                 strip(s.turn.value.load(std::memory_order_acquire)) == base;  // acquire: pairs with (A)/(D)
        },
        detail::wait_policy::forever());
    if (turn) {
      if (strip(*turn) != base + full_state) {
        // Voided (base + 8), and maybe already claimed by the next round.
        WEFT_ASSERT(distance(*turn, base + round_step) >= 0,
                    "bounded_queue: a consumer's round is neither full nor void");
        // Only its producer voids a round this way (consumer r voids its own
        // round below, and returns from there).
        voided_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see voided_
        return outcome::voided;
      }
      take(s, base, out);
      return outcome::item;
    }
    // Closed. No producer will ever fill a ticket issued after close().
    // relaxed: as in the give-up check above (closed() was read true).
    if (ticket >= close_ticket_.load(std::memory_order_relaxed)) return outcome::closed_end;
    // The round is still empty: its producer gave up or has not claimed yet.
    // Void it; if the producer's CAS (A) wins instead, wait for its item.
    // acquire (load), acq_rel (CAS): pair with the producer's claim (A),
    // which races us for the empty round; whoever wins decides it.
    std::uint32_t seen = s.turn.value.load(std::memory_order_acquire);
    if (strip(seen) == base &&
        s.turn.value.compare_exchange_strong(seen, base + round_step, std::memory_order_acq_rel)) {
      s.turn.wake_all();  // a producer sleeping on this slot learns it was voided
      pushers_.notify();
      return outcome::voided;
    }
  }
}

// Moves the item out of a full slot and hands the slot to the next round.
template <class T>
void bounded_queue<T>::take(slot& s, std::uint32_t base, std::optional<T>& out) {
  struct release_slot {  // runs even if T's move constructor throws
    slot& s;
    std::uint32_t next;
    bounded_queue* q;
    ~release_slot() {
      s.item()->~T();
      // (D) release: pairs with (A) of producer r+1; (C1)-(C3) of protocol P.
      q->publish(s, next);
      q->pushers_.notify();  // (K2) of async_wait_list, after (D) and its light()
    }
  } release{s, base + round_step, this};
  assert_turn(s, base + full_state, "bounded_queue: take() from a slot that is not full for this round");
  try {
    out.emplace(std::move(*s.item()));
  } catch (...) {
    finish();  // protocol J: the item is destroyed, never delivered: join() must not wait for it
    throw;
  }
  // relaxed: a count for task_done()'s misuse check only.
  pop_side_.popped_undone.fetch_add(1, std::memory_order_relaxed);
}

template <class T>
typename bounded_queue<T>::try_result bounded_queue<T>::try_pop_into(std::optional<T>& out) {
  // acquire (loads and the CAS): pair with pop()'s acq_rel fetch_add and
  // other try_pops' CAS on the pop tickets: the ticket order only, no data.
  std::uint64_t ticket = pop_side_.tickets.load(std::memory_order_acquire);
  for (;;) {
    if (closed_before(ticket)) return try_result::drained;
    // Claim the ticket only if its item is already published (or its round
    // voided): then no wait in consume() is for a party still in flight.
    const std::uint32_t base = base_of(ticket);
    // acquire: pairs with (B); the claimed item is then fully built.
    const std::uint32_t turn = strip(slot_of(ticket).turn.value.load(std::memory_order_acquire));
    // Full for this round, or past it: voided, and maybe already reused by
    // later rounds (a void's base + 8 is the next round's 'empty').
    const bool ready = distance(turn, base + full_state) >= 0;
    // After close(), a ticket below close_ticket_ may never be filled (its
    // producer gave up): claim it anyway, and consume() voids it. But a
    // producer still writing its item will fill it: claiming would wait.
    const bool producer_writing = turn == base + writing;
    if (!ready && (!closed() || producer_writing)) return try_result::empty;
    // acq_rel/acquire: as the load above (ticket order; the item rides on (B)/(C)).
    if (!pop_side_.tickets.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
      continue;  // `ticket` now holds the fresh pop ticket
    switch (consume(ticket, out)) {
      case outcome::item: return try_result::item;
      case outcome::closed_end: return try_result::drained;
      case outcome::voided: ticket = pop_side_.tickets.load(std::memory_order_acquire); break;  // as above
    }
  }
}

template <class T>
std::optional<T> bounded_queue<T>::try_pop() {
  std::optional<T> out;
  try_pop_into(out);
  return out;
}

template <class T>
std::optional<T> bounded_queue<T>::pop_waiting(const detail::wait_policy& policy) {
  std::optional<T> out;
  for (;;) {
    // Note the next ticket's slot before looking: a change after the look
    // (its producer publishes, close() pokes it) then ends the sleep.
    // acquire: the ticket pairs with the pop tickets' RMWs; the turn with
    // (B), (D) and close()'s poke, like every load of a turn word.
    std::uint64_t ticket = pop_side_.tickets.load(std::memory_order_acquire);
    slot& s = slot_of(ticket);
    std::uint32_t seen = s.turn.value.load(std::memory_order_acquire);
    if (try_pop_into(out) != try_result::empty) return out;
    auto changed = await_turn(
        s, [&](std::uint32_t v) { return v != seen; },
        [&] { return closed() || pop_side_.tickets.load(std::memory_order_acquire) != ticket; },  // as above
        policy);
    if (!changed && policy.expired()) {
      try_pop_into(out);  // one last look, so a timeout never hides an item
      return out;
    }
  }
}

template <class T>
bool bounded_queue<T>::try_push(T&& value) {
  // acquire (loads and the CAS): pair with take_producer_ticket()'s fetch_add
  // and close()'s fetch_or on the push tickets: ticket order and the closed bit only.
  std::uint64_t ticket = push_side_.tickets.load(std::memory_order_acquire);
  for (;;) {
    if (ticket & closed_bit) throw queue_closed();
    // Claim the ticket only if its slot is already free for its round: the
    // consumer of the previous round has finished with it (D), so produce()
    // will not wait for a consumer that may be stalled. acquire: pairs with (D).
    const std::uint32_t turn = strip(slot_of(ticket).turn.value.load(std::memory_order_acquire));
    if (turn != base_of(ticket)) return false;  // full (or its consumer is still moving out)
    if (push_side_.tickets.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel,
                                          std::memory_order_acquire))
      break;
  }
  produce(ticket, std::move(value));
  return true;
}

template <class T>
bool bounded_queue<T>::try_push(const T& value) {
  T copy(value);
  return try_push(std::move(copy));
}

template <class T>
bool bounded_queue<T>::push_waiting(T&& value, const detail::wait_policy& policy) {
  for (;;) {
    // Note the next ticket's slot before looking (as in pop_waiting; the
    // same orders).
    std::uint64_t ticket = tickets_issued();
    slot& s = slot_of(ticket);
    std::uint32_t seen = s.turn.value.load(std::memory_order_acquire);
    if (try_push(std::move(value))) return true;
    auto changed = await_turn(
        s, [&](std::uint32_t v) { return v != seen; },
        [&] { return closed() || tickets_issued() != ticket; }, policy);
    if (!changed && policy.expired()) return try_push(std::move(value));
  }
}

template <class T>
void bounded_queue<T>::close() noexcept {
  if (closed_.load(std::memory_order_acquire)) return;  // acquire: pairs with the seq_cst store below
  // Every ticket issued before this fetch_or is valid; none after.
  // acq_rel: pairs with take_producer_ticket()'s fetch_add (see there).
  std::uint64_t issued = push_side_.tickets.fetch_or(closed_bit, std::memory_order_acq_rel);
  if (issued & closed_bit) return;  // another thread closed first
  // relaxed: published by the seq_cst store of closed_ that follows.
  close_ticket_.store(issued, std::memory_order_relaxed);
  // seq_cst: publishes close_ticket_ (release) and orders against the
  // parking protocol's give_up() checks (Dekker with W1/W2).
  closed_.store(true, std::memory_order_seq_cst);
  for (size_type i = 0; i < capacity_; ++i) {
    slots_[i].turn.value.fetch_or(poke, std::memory_order_seq_cst);  // C1 for sleepers
    slots_[i].turn.wake_all();
  }
  poppers_.notify();  // a closed, drained queue ends their wait (nullopt); pushers get queue_closed
  pushers_.notify();
}

template <class T>
void bounded_queue<T>::publish(slot& s, std::uint32_t turn) noexcept {
  using fence = detail::asymmetric_fence;
  // (C1) release (seq_cst under TSan, which models neither fence kind):
  // pairs with the acquire loads of the turn in await_turn() and try_*.
  s.turn.value.store(turn, fence::hot_store_order);
  fence::light();  // (C2): pairs with heavy() (W2) in await_turn() and (Q2) in async_wait_list
  // (C3) relaxed: light() orders it after (C1) against a sleeper's heavy().
  constexpr auto order = fence::tsan ? std::memory_order_seq_cst : std::memory_order_relaxed;
  if (s.turn.sleepers.load(order) != 0) detail::futex_wake(s.turn.value, INT32_MAX, scope);
}

template <class T>
template <class Ready, class GiveUp>
std::optional<std::uint32_t> bounded_queue<T>::await_turn(slot& s, Ready ready, GiveUp give_up,
                                                          const detail::wait_policy& policy) {
  using fence = detail::asymmetric_fence;
  auto& word = s.turn;
  std::uint32_t seen = 0;
  auto settled = [&] {
    seen = word.value.load(std::memory_order_acquire);  // acquire: pairs with (C1)
    return ready(seen) || !policy.may_sleep() || give_up();
  };
  if (detail::spin_then_yield(policy, settled) == detail::spin_outcome::stopped)
    return ready(seen) ? std::optional<std::uint32_t>(seen) : std::nullopt;
  for (;;) {
    word.sleepers.fetch_add(1, std::memory_order_seq_cst);  // (W1)
    // (W2). False, or unreliable, when a membarrier failed after it was
    // registered: a changer's light() may then have been a compiler
    // barrier only, so sleep at most 1 ms and look again.
    const bool fenced = fence::heavy() && fence::reliable();
    std::uint32_t v = word.value.load(std::memory_order_seq_cst);  // (W3)
    const bool stop = ready(v) || give_up();
    bool in_time = true;
    if (!stop) {
      if (fenced) {
        in_time = detail::futex_wait(word.value, v, policy, scope);  // (W4)
      } else {
        auto cap = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
        if (policy.has_deadline() && policy.deadline() < cap) cap = policy.deadline();
        in_time = detail::futex_wait(word.value, v, detail::wait_policy::until(cap), scope) ||
                  !policy.expired();
      }
    }
    word.sleepers.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a wake-up to spare is harmless
    if (stop) return ready(v) ? std::optional<std::uint32_t>(v) : std::nullopt;
    if (!in_time) {
      v = word.value.load(std::memory_order_acquire);  // acquire: as in settled
      return ready(v) ? std::optional<std::uint32_t>(v) : std::nullopt;
    }
  }
}

template <class T>
void bounded_queue<T>::task_done() {
  // relaxed: a count for the misuse check only; finish() orders the rest.
  std::uint64_t popped = pop_side_.popped_undone.load(std::memory_order_relaxed);
  do {
    if (popped == 0)
      throw std::logic_error("weft::bounded_queue::task_done: called more times than items were popped");
  } while (!pop_side_.popped_undone.compare_exchange_weak(popped, popped - 1, std::memory_order_relaxed));
  finish();
}

template <class T>
void bounded_queue<T>::finish() noexcept {
  // (F1) seq_cst: release for join()'s acquire (J1), and in one total order
  // with (J1)/(J2) and the tickets' RMWs: see all_done().
  const std::uint64_t finished = pop_side_.finished.fetch_add(1, std::memory_order_seq_cst) + 1;
  // (F2) after (F1). When this was the last ticket issued, a joiner that
  // read an earlier count (J1 before F1) read the epoch before that, and
  // the bump (parking_word's C1-C3) wakes it. A ticket issued after (F2)
  // is finished later, and its (F2) checks again.
  if (finished == pushes_begun()) join_epoch_.bump_and_wake();
  // (K1) of async_wait_list was (F1): this fence makes it seq_cst against
  // async_join's (Q1)/(Q2).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  joiners_.notify();
}

template <class T>
void bounded_queue<T>::join() {
  for (;;) {
    // seq_cst: before (J1), so a bump (F2) after (J1) changes what we saw.
    const std::uint32_t seen = join_epoch_.value.load(std::memory_order_seq_cst);
    if (all_done()) return;
    join_epoch_.await([seen](std::uint32_t v) { return v != seen; }, detail::wait_policy::forever());
  }
}

template <class T>
typename bounded_queue<T>::size_type bounded_queue<T>::size() const noexcept {
  // A snapshot from two independent loads (acquire: pair with the tickets'
  // RMWs); it may be stale, and is clamped to [0, capacity].
  std::uint64_t popped = pop_side_.tickets.load(std::memory_order_acquire);
  std::uint64_t pushed = tickets_issued();
  if (closed_.load(std::memory_order_acquire)) {  // pairs with close()'s seq_cst store
    std::uint64_t last = close_ticket_.load(std::memory_order_relaxed);  // published by closed_
    if (pushed > last) pushed = last;
  }
  // Voided rounds are tickets without items (relaxed: a count; see voided_).
  auto n = static_cast<std::int64_t>(pushed - popped - voided_.load(std::memory_order_relaxed));
  if (n <= 0) return 0;
  return n > static_cast<std::int64_t>(capacity_) ? capacity_ : static_cast<size_type>(n);
}

}  // namespace weft
