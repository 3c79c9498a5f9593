// weft — MIT licence. See LICENSE.
//
// <weft/future.hpp> — the result of a task submitted to a weft pool: the C++
// counterpart of `concurrent.futures.Future`, with `as_completed`, `wait`
// (return_when), and asyncio-style `when_all` (gather) and `when_any` (race).
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <weft/detail/future_access.hpp>
#include <weft/detail/future_wait.hpp>
#include <weft/detail/range_access.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/detail/wait.hpp>
#include <weft/error.hpp>

#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <concepts>
#include <cstddef>
#include <exception>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace weft {

// The eventual result of a task (like Python's concurrent.futures.Future).
//
// Thread-safety: a future is a move-only handle. Its const members, cancel()
//   and add_done_callback() may be called concurrently with each other and
//   with the task's completion; get(), moves and destruction must not race
//   with other calls on the same future object.
// Blocking: get(), wait(), wait_for(), wait_until() and exception() block
//   until the task is done (or the timeout passes): a short spin, then a
//   futex sleep, woken by completion or cancellation. get(), wait() and
//   exception() called on a worker of the pool that owns the task run the
//   work that cannot wait on the caller instead of sleeping (the task itself
//   if it has not started, the caller's subtasks, the task's subtasks; see
//   thread_pool), so recursive submit+get cannot deadlock; wait_for() and
//   wait_until() always sleep, and return by their deadline.
// Exceptions: get() rethrows the task's exception, or throws weft::cancelled
//   for a cancelled task. get() takes the result, as std::future::get does:
//   afterwards the future has no state. Any member but valid(), the move
//   operations and the destructor throws std::future_error(no_state), whose
//   what() says why, on a future without state (default-constructed,
//   moved-from, or after get()).
// Ordering: everything the task did happens before get()/wait() return and
//   before the done callbacks run; callbacks added before completion run on
//   the completing thread and may still be running when wait() returns.
// Cost: the task, its callable and its result share one allocation with the
//   future; completion is one atomic read-modify-write (which also drops the
//   runner's reference) plus a futex wake when someone sleeps; get() on a
//   finished task frees it without one; no mutex, no condition variable.
// Lifetime: a future may outlive its pool: the pool completes or cancels every
//   task before it is destroyed.
template <class T>
class future {
  static_assert(!std::is_reference_v<T>,
                "weft::future<T&>: return a pointer or std::reference_wrapper instead");

 public:
  using value_type = T;

  future() noexcept = default;
  future(future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  future& operator=(future&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~future() { reset(); }

  // Waits for the result and returns it; rethrows the task's exception;
  // throws weft::cancelled if cancelled. Leaves the future without state
  // (valid() == false), like std::future::get().
  T get() {
    wait();
    future keep(std::move(*this));  // released when get() returns or throws
    if constexpr (std::is_void_v<T>) {
      keep.state_->take_value();
    } else {
      return keep.state_->take_value();
    }
  }
  // Blocks until the task is done (succeeded, failed or cancelled).
  void wait() const { checked().wait(detail::wait_policy::forever()); }
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    return status_after(detail::wait_policy::for_(timeout));
  }
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    return status_after(detail::wait_policy::until(deadline));
  }

  // True when the task is done (succeeded, failed or cancelled). Never blocks.
  bool ready() const { return checked().done(); }
  bool valid() const noexcept { return state_ != nullptr; }
  // Cancels the task if it has not started: true when it is cancelled as the
  // call returns (now or before); false once it runs or has finished.
  // Waiters wake and get() throws weft::cancelled. Never blocks.
  bool cancel() { return checked().cancel(); }
  // Requests stop of a task that takes a std::stop_token (the thread pool
  // passes one to f(std::stop_token, args...)): its token reports
  // stop_requested() from now on, also if it has not started yet. True when
  // the task had not finished. Never blocks; a task without a token is not
  // affected (threads cannot be interrupted).
  bool request_stop() { return checked().request_stop(); }
  bool cancelled() const { return checked().load_status() == detail::state_base::cancelled; }
  // Waits for completion; the task's exception, or nullptr if it succeeded.
  // Throws weft::cancelled for a cancelled task (as Python does).
  std::exception_ptr exception() const {
    wait();
    if (cancelled()) throw weft::cancelled();
    return state_->exception();
  }
  // Runs f() when the task is done: at once on this thread if it already is,
  // otherwise on the thread that completes it. An exception escaping f is
  // reported on stderr, never lost silently and never propagated into the
  // completing thread. Callbacks run in the order they were added.
  template <class F>
  void add_done_callback(F&& f) {
    static_assert(std::is_invocable_v<std::decay_t<F>&>,
                  "weft::future::add_done_callback: f must be callable with no arguments");
    checked().add_done_callback(std::forward<F>(f));
  }


 private:
  // weft's executors build futures and reach their states only through
  // detail::future_access, so that no public signature names a detail type.
  friend struct detail::future_access;
  // Adopts one reference to `state`.
  explicit future(detail::shared_state<T>* state) noexcept : state_(state) {}
  detail::shared_state<T>* state() const noexcept { return state_; }

  detail::shared_state<T>& checked() const {
    if (state_ == nullptr) throw detail::no_state_error();
    return *state_;
  }
  std::future_status status_after(const detail::wait_policy& policy) const {
    return checked().wait(policy) ? std::future_status::ready : std::future_status::timeout;
  }
  void reset() noexcept {
    if (state_ != nullptr) std::exchange(state_, nullptr)->release();
  }

  detail::shared_state<T>* state_ = nullptr;  // one reference owned
};

namespace detail {
template <class A>
struct is_future : std::false_type {};
template <class T>
struct is_future<future<T>> : std::true_type {};
}  // namespace detail

// What wait() waits for, as in concurrent.futures.
enum class return_when { first_completed, first_exception, all_completed };

// Indices into a range of futures, in ascending order: a vector that also
// answers as a set does (contains, count), for the "index sets" of
// concurrent.futures.wait, and compares equal to a vector or a std::set of
// the same indices.
class index_set : public std::vector<std::size_t> {
 public:
  using std::vector<std::size_t>::vector;
  index_set() = default;
  // Implicit: wait_result's members took a plain vector before they were index sets.
  index_set(std::vector<std::size_t> indices) noexcept : std::vector<std::size_t>(std::move(indices)) {}
  bool contains(std::size_t i) const noexcept {
    for (std::size_t x : *this)
      if (x >= i) return x == i;  // ascending
    return false;
  }
  std::size_t count(std::size_t i) const noexcept { return contains(i) ? 1 : 0; }
};
// Equal to any other range of indices holding the same ones in the same
// (ascending) order, e.g. a std::set<std::size_t>. (A vector compares as
// vectors do.)
template <std::ranges::input_range Indices>
  requires(!std::derived_from<Indices, std::vector<std::size_t>> &&
           std::same_as<std::ranges::range_value_t<const Indices>, std::size_t>)
bool operator==(const index_set& set, const Indices& other) {
  auto it = std::ranges::begin(other);
  const auto end = std::ranges::end(other);
  for (std::size_t i : set) {
    if (it == end || !(*it == i)) return false;
    ++it;
  }
  return it == end;
}

// The outcome of wait().
struct wait_result {
  index_set done;
  index_set not_done;
};

// Yields the futures of a range in the order they complete (as Python's
// concurrent.futures.as_completed), as references into the range.
//
// Blocking: advancing the iterator waits for the next completion. With a
// timeout, an advance that would pass the deadline (counted from the call)
// throws weft::timeout. The range must outlive the iteration and must not be
// resized meanwhile. Cost: one done callback per future.
template <class Range>
class as_completed_range {
 public:
  class iterator {
   public:
    using value_type = std::ranges::range_value_t<Range>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    value_type& operator*() const { return owner_->at(index()); }
    value_type* operator->() const { return &**this; }
    // Position of the current future in the input range.
    std::size_t index() const { return owner_->log_->at(position_); }
    iterator& operator++() {
      ++position_;
      owner_->await(position_);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return position_ >= owner_->size_; }

   private:
    friend class as_completed_range;
    explicit iterator(as_completed_range* owner) : owner_(owner) { owner_->await(0); }
    as_completed_range* owner_ = nullptr;
    std::size_t position_ = 0;
  };

  as_completed_range(Range& futures, detail::wait_policy policy)
      : futures_(&futures), size_(detail::range_length(futures)), policy_(policy), log_(detail::watch_all(futures)) {
    if constexpr (!std::ranges::random_access_range<Range>)
      for (auto& f : futures) by_position_.push_back(&f);  // a std::list has no [i]; its elements never move
  }

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  void await(std::size_t position) {
    if (position >= size_) return;
    auto satisfied = [&] { return log_->beyond(position); };
    auto park = [&](const detail::wait_policy& p) { return log_->wait_beyond(position, p); };
    if (!detail::await_futures(*futures_, policy_, /*race=*/true, satisfied, park))
      throw weft::timeout("weft::as_completed: timed out");
  }

  // The future at position i of the range. A vector is indexed anew each
  // time: futures pushed onto it during the loop (not visited) may move it.
  std::ranges::range_value_t<Range>& at(std::size_t i) const {
    if constexpr (std::ranges::random_access_range<Range>) return std::ranges::begin(*futures_)[i];
    else return *by_position_[i];
  }

  Range* futures_;
  std::size_t size_;  // the futures visited: those in the range at the call
  std::vector<std::ranges::range_value_t<Range>*> by_position_;  // not random access: the futures by position
  detail::wait_policy policy_;
  std::shared_ptr<detail::completion_log> log_;
};

// `for (auto& f : weft::as_completed(futures))` visits futures as they finish.
// Throws std::future_error(no_state) if a future has no state.
template <detail::future_range Range>
as_completed_range<Range> as_completed(Range& futures) {
  return {futures, detail::wait_policy::forever()};
}
template <detail::future_range Range, class Rep, class Period>
as_completed_range<Range> as_completed(Range& futures, std::chrono::duration<Rep, Period> timeout) {
  return {futures, detail::wait_policy::for_(timeout)};
}

// Waits until `when` is satisfied (or the timeout passes) and reports which
// futures are done, like concurrent.futures.wait. first_exception returns when
// a future fails with an exception (a cancelled future is done, not failed)
// or when all are done. Never throws on timeout: check not_done.
template <detail::future_range Range>
wait_result wait(Range& futures, return_when when = return_when::all_completed) {
  return detail::wait_impl<wait_result>(futures, when, detail::wait_policy::forever());
}
template <detail::future_range Range, class Rep, class Period>
wait_result wait(Range& futures, return_when when, std::chrono::duration<Rep, Period> timeout) {
  return detail::wait_impl<wait_result>(futures, when, detail::wait_policy::for_(timeout));
}

// Gathers a vector of futures into one future of all their values, in input
// order (asyncio.gather). The inputs are consumed. If any input fails, the
// result fails with the exception of the first failed input in input order;
// a cancelled input makes the result fail with weft::cancelled. Cancelling
// the result does not cancel the inputs.
template <class T>
[[nodiscard]] auto when_all(std::vector<future<T>>&& futures)
    -> future<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
  using result_t = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  auto* state = new detail::promise_state<result_t>(
      futures.empty() ? nullptr : detail::owner_of(futures.front()), 1);
  auto result = detail::future_access::make<result_t>(state);
  if (futures.empty()) {
    state->set_value();
    return result;
  }
  struct gather {
    explicit gather(std::vector<future<T>> in) : inputs(std::move(in)), remaining(inputs.size()) {}
    std::vector<future<T>> inputs;
    std::atomic<std::size_t> remaining;  // inputs not yet completed
  };
  auto shared = std::make_shared<gather>(std::move(futures));
  detail::state_ref<detail::promise_state<result_t>> out(state);
  for (auto& f : shared->inputs) {
    f.add_done_callback([shared, out] {
      // acq_rel: every input's completion happens before the last one reads them.
      if (shared->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      try {
        if constexpr (std::is_void_v<T>) {
          for (auto& in : shared->inputs) in.get();
          out->set_value();
        } else {
          std::vector<T> values;
          values.reserve(shared->inputs.size());
          for (auto& in : shared->inputs) values.push_back(in.get());
          out->set_value(std::move(values));
        }
      } catch (...) {
        out->set_exception(std::current_exception());
      }
      shared->inputs.clear();  // breaks the callback <-> input cycle
    });
  }
  return result;
}

// The same, taking the futures out of a named vector (it is left empty).
template <class T>
auto when_all(std::vector<future<T>>& futures) {
  return when_all(std::vector<future<T>>(std::move(futures)));
}

// The same over any other range of futures (a std::list, a std::array),
// named or temporary: its futures are moved out (left not valid()).
template <detail::future_range Range>
  requires(!std::is_const_v<std::remove_reference_t<Range>>)
[[nodiscard]] auto when_all(Range&& futures) {
  std::vector<std::ranges::range_value_t<Range>> owned;
  for (auto& f : futures) owned.push_back(std::move(f));
  return when_all(std::move(owned));
}

namespace detail {
// when_all over futures of different types (taken by value: consumed).
template <class... Ts>
future<std::tuple<stored_t<Ts>...>> gather_tuple(future<Ts>... futures) {
  using result_t = std::tuple<detail::stored_t<Ts>...>;
  auto inputs = std::make_shared<std::tuple<future<Ts>...>>(std::move(futures)...);
  auto* state = new detail::promise_state<result_t>(detail::owner_of(std::get<0>(*inputs)), 1);
  auto result = detail::future_access::make<result_t>(state);
  auto remaining = std::make_shared<std::atomic<std::size_t>>(sizeof...(Ts));
  detail::state_ref<detail::promise_state<result_t>> out(state);
  auto finish = [inputs, remaining, out] {
    if (remaining->fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    try {
      auto take = [](auto& f) {
        using V = typename std::remove_reference_t<decltype(f)>::value_type;
        if constexpr (std::is_void_v<V>) {
          f.get();
          return std::monostate{};
        } else {
          return f.get();
        }
      };
      // Braces: the results are taken in input order, so the first failure in
      // input order is the one rethrown (parentheses leave the order unspecified).
      out->set_value(std::apply([&](auto&... f) { return result_t{take(f)...}; }, *inputs));
    } catch (...) {
      out->set_exception(std::current_exception());
    }
  };
  std::apply([&](auto&... f) { (f.add_done_callback(finish), ...); }, *inputs);
  return result;
}
}  // namespace detail

// Gathers futures of different types into a future of a tuple (void inputs
// give std::monostate). Same rules as the vector form. Named futures are
// consumed too (moved out, left not valid()), as the vector form consumes
// a named vector.
template <class... Fs>
  requires(sizeof...(Fs) > 0 && (detail::is_future<std::remove_cvref_t<Fs>>::value && ...) &&
           (!std::is_const_v<std::remove_reference_t<Fs>> && ...))
[[nodiscard]] auto when_all(Fs&&... futures) {
  return detail::gather_tuple(std::move(futures)...);
}

// A future of the index of the first future in `futures` to complete
// (succeeded, failed or cancelled): the race. The inputs stay with the
// caller, who typically gets the winner and cancels the losers.
template <detail::future_range Range>
future<std::size_t> when_any(Range& futures) {
  if (detail::range_empty(futures))
    throw std::invalid_argument("weft::when_any: needs at least one future");
  // No owner: a race's get() sleeps, never helps (see executor_hooks).
  auto* state = new detail::promise_state<std::size_t>(nullptr, 1);
  auto result = detail::future_access::make<std::size_t>(state);
  detail::state_ref<detail::promise_state<std::size_t>> out(state);
  std::size_t i = 0;
  for (auto& f : futures) {
    f.add_done_callback([out, i] { out->set_value(i); });  // the first set_value wins
    ++i;
  }
  return result;
}

// The race over futures of any types: a future of the winner's position.
template <class... Ts>
  requires(sizeof...(Ts) > 0)
future<std::size_t> when_any(future<Ts>&... futures) {
  // No owner: a race's get() sleeps, never helps (see executor_hooks).
  auto* state = new detail::promise_state<std::size_t>(nullptr, 1);
  auto result = detail::future_access::make<std::size_t>(state);
  detail::state_ref<detail::promise_state<std::size_t>> out(state);
  std::size_t i = 0;
  (futures.add_done_callback([out, index = i++] { out->set_value(index); }), ...);
  return result;
}

// The race over temporaries (e.g. when_any(pool.submit(a), pool.submit(b))):
// the caller keeps no handle to the losers, which finish on their own.
template <class... Ts>
  requires(sizeof...(Ts) > 0)
future<std::size_t> when_any(future<Ts>&&... futures) {
  return when_any(futures...);
}
template <detail::future_range Range>
  requires(!std::is_lvalue_reference_v<Range>)
future<std::size_t> when_any(Range&& futures) {
  Range owned = std::move(futures);
  return when_any(owned);
}

}  // namespace weft
