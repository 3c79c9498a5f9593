// weft — MIT licence. See LICENSE.
//
// <weft/detail/future_wait.hpp> — internal: the machinery behind waiting on
// many futures (weft::wait, as_completed, when_all, when_any). Not API.
#pragma once

#include <weft/detail/future_access.hpp>
#include <weft/detail/range_access.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/detail/wait.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace weft::detail {

// A range of weft futures that can be walked more than once (a vector, a
// std::list, ...); its elements are lvalues (they get done callbacks).
template <class R>
concept future_range = std::ranges::forward_range<R> && std::is_lvalue_reference_v<std::ranges::range_reference_t<R>> &&
    requires(std::ranges::range_reference_t<R> f) {
      { f.ready() } -> std::same_as<bool>;
      detail::future_access::state(f);
    };

// Ids of futures in the order they complete, fed by done callbacks.
// Shared (shared_ptr) between the callbacks and the waiting side.
// Positions number every completion ever logged. A reader that is done with
// the oldest entries forgets them (imap_unordered over an unbounded input),
// so memory follows what is unread, not what was ever logged.
class completion_log {
 public:
  void record(std::size_t id) {
    {
      std::lock_guard lock(mutex_);
      entries_.push_back(id);
    }
    logged_.bump_and_wake();
  }
  // Completions logged so far, modulo 2^32 (the futex word's width); a wait
  // on a finite set of futures never gets there.
  std::size_t count() const noexcept { return logged_.value.load(std::memory_order_acquire); }
  // True once more than `seen` completions are logged. The count wraps, but
  // a reader's `seen` never passes it and trails it by less than 2^32 (at
  // most the futures in flight), so "differs" means "is beyond".
  bool beyond(std::size_t seen) const noexcept { return count() != static_cast<std::uint32_t>(seen); }
  // Waits until beyond(seen); false on timeout.
  bool wait_beyond(std::size_t seen, const wait_policy& policy) {
    const auto s = static_cast<std::uint32_t>(seen);
    return logged_.await([s](std::uint32_t n) { return n != s; }, policy).has_value();
  }
  // The id logged at position i (a position not forgotten, and logged).
  std::size_t at(std::size_t i) {
    std::lock_guard lock(mutex_);
    return entries_[i - forgotten_];
  }
  // The oldest entry not forgotten (logged), which is forgotten now.
  std::size_t take_oldest() {
    std::lock_guard lock(mutex_);
    const std::size_t id = entries_.front();
    entries_.pop_front();
    ++forgotten_;
    return id;
  }

 private:
  std::mutex mutex_;
  std::deque<std::size_t> entries_;  // guarded by mutex_; positions forgotten_, forgotten_ + 1, ...
  std::size_t forgotten_ = 0;        // guarded by mutex_
  parking_word<> logged_;            // completions logged, modulo 2^32
};

// The one wait path of every multi-future wait (wait, as_completed): on a
// worker of the pool that owns some of the futures, and without a deadline,
// the pool's helping wait (see executor_hooks); otherwise park() until
// satisfied() or the policy ends. `satisfied` must record what it saw so
// that `park` sleeps only while that is still current (no lost wake-up).
// `race`: the wait may end before every future is done; it never helps
// (see executor_hooks).
template <class Range, class Satisfied, class Park>
bool await_futures(Range& futures, const wait_policy& policy, bool race, Satisfied satisfied, Park park) {
  if (satisfied()) return true;
  executor_hooks* executor = current_executor();
  if (executor != nullptr && policy.may_sleep() && !policy.has_deadline() && !race) {
    std::vector<state_base*> mine;
    for (auto& f : futures)
      if (f.valid() && future_access::state(f)->owner() == executor) mine.push_back(future_access::state(f));
    if (!mine.empty()) return executor->help_while_waiting({mine, satisfied, park});
  }
  while (!satisfied())
    if (!park(policy)) return satisfied();
  return true;
}

template <class Range>
std::shared_ptr<completion_log> watch_all(Range& futures) {
  auto log = std::make_shared<completion_log>();
  std::size_t i = 0;
  for (auto& f : futures) {
    f.add_done_callback([log, i] { log->record(i); });
    ++i;
  }
  return log;
}

template <class Range>
bool any_failed(Range& futures) {
  for (auto& f : futures)
    if (f.ready() && future_access::state(f)->load_status() == state_base::failed) return true;
  return false;
}

// The body of weft::wait; When is weft::return_when and Result weft::wait_result
// (public types, declared in <weft/future.hpp> after this header).
template <class Result, class Range, class When>
Result wait_impl(Range& futures, When when, const wait_policy& policy) {
  const std::size_t n = range_length(futures);
  auto log = watch_all(futures);
  // `seen` is read once per check and is what park() waits beyond: a
  // completion that lands after the check always ends the sleep.
  std::size_t seen = 0;
  auto satisfied = [&] {
    seen = log->count();
    switch (when) {
      case When::first_completed: return seen >= 1 || n == 0;
      case When::first_exception: return seen == n || any_failed(futures);
      case When::all_completed: return seen == n;
    }
    return true;
  };
  auto park = [&](const wait_policy& p) { return log->wait_beyond(seen, p); };
  detail::await_futures(futures, policy, when != When::all_completed, satisfied, park);
  Result result;
  std::size_t i = 0;
  for (auto& f : futures) (f.ready() ? result.done : result.not_done).push_back(i++);
  return result;
}

// One reference to a state, released on destruction (for captures).
template <class S>
class state_ref {
 public:
  explicit state_ref(S* s) noexcept : s_(s) { s_->add_ref(); }
  state_ref(const state_ref& o) noexcept : s_(o.s_) { s_->add_ref(); }
  state_ref& operator=(const state_ref&) = delete;
  ~state_ref() { s_->release(); }
  S* operator->() const noexcept { return s_; }

 private:
  S* s_;
};

template <class T>
using stored_t = typename shared_state<T>::stored_type;

template <class F>
executor_hooks* owner_of(const F& f) noexcept {
  return f.valid() ? future_access::state(f)->owner() : nullptr;
}

}  // namespace weft::detail
