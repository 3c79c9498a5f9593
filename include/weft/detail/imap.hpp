// weft — MIT licence. See LICENSE.
//
// <weft/detail/imap.hpp> — internal: the lazy, bounded streaming map behind
// every pool's imap / imap_unordered. Not API.
//
// The input is read one chunk at a time, only while fewer than `buffersize`
// chunks are in flight; each chunk is one task, submitted through the
// pool's `Submit` (the pool decides how a chunk crosses to its workers).
// Results come back in input order (Ordered) or in chunk completion order.
// A chunk task records an item's exception at the item's position and goes
// on with the next items, so the consumer sees the exception exactly when
// it reaches that item, and may continue past it (as Python's imap). A
// chunk that fails as a whole (its worker died, it was cancelled) fails
// each of its items; a failure to read the input or to submit (the pool
// was shut down) is one more failed item after everything read before it,
// and ends the range. Only dereferencing throws, never ++.
// One implementation for every pool: a thread pool's chunk future carries a
// chunk_result directly; a remote pool's carries what crossed the process
// boundary (remote_task.hpp: remote_chunk_result), which to_chunk_result
// turns into one (found by argument-dependent lookup).
#pragma once

#include <weft/future.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::detail {

// std::vector<bool> packs bits and has no bool& to hand out: a chunk keeps
// bool results boxed, so that imap yields bool& as it yields R& for any R.
struct bool_box {
  bool value;
};
template <class R>
using stored_value_t = std::conditional_t<std::is_same_v<R, bool>, bool_box, R>;
inline bool& unbox(bool_box& b) noexcept { return b.value; }
template <class R>
R& unbox(R& value) noexcept {
  return value;
}
template <class R, class V>
stored_value_t<R> box(V&& value) {
  if constexpr (std::is_same_v<R, bool>) {
    return bool_box{static_cast<bool>(value)};
  } else {
    return std::forward<V>(value);
  }
}

// What one chunk task returns: the values of the items that succeeded, in
// order, and the exceptions of those that failed, with their positions.
template <class R>
struct chunk_result {
  std::vector<stored_value_t<R>> values;
  std::vector<std::pair<std::size_t, std::exception_ptr>> errors;  // ascending positions
  std::size_t items = 0;
};

// A chunk that needs no conversion (thread pools).
template <class R>
chunk_result<R> to_chunk_result(chunk_result<R>&& c) noexcept {
  return std::move(c);
}

// Applies f to each item of a chunk (the body of a chunk task).
// One try block per run of successful items, not per item, so that the
// loop over a run stays a plain loop the compiler can optimize; for
// trivially copyable results the values are stored into place without
// push_back's per-item capacity check.
template <class R, class F, class T>
chunk_result<R> run_chunk(F& f, std::vector<T>& items) {
  constexpr bool store_in_place = std::is_trivially_copyable_v<R> && std::is_default_constructible_v<R>;
  chunk_result<R> out;
  const std::size_t n = items.size();
  out.items = n;
  if constexpr (store_in_place) out.values.resize(n);
  else out.values.reserve(n);
  std::size_t i = 0, stored = 0;
  while (i < n) {
    try {
      for (; i < n; ++i) {
        if constexpr (store_in_place) out.values[stored++] = box<R>(f(std::move(items[i])));
        else out.values.push_back(f(std::move(items[i])));
      }
    } catch (...) {
      out.errors.emplace_back(i, std::current_exception());
      ++i;
    }
  }
  if constexpr (store_in_place) out.values.resize(stored);
  return out;
}

// Input: the range type as given (an lvalue reference: referenced; else
// owned). Submit: callable(std::vector<item>&&) -> future<C>, where
// to_chunk_result(C&&) -> chunk_result<R>.
template <class Input, class R, class Submit, bool Ordered>
class imap_range {
  using input_iterator = std::ranges::iterator_t<Input>;
  using item_type = std::ranges::range_value_t<Input>;
  using chunk_future = std::invoke_result_t<Submit&, std::vector<item_type>&&>;
  struct state;  // defined below; the iterator points into it

 public:
  imap_range(Input&& input, Submit submit, std::size_t chunksize, std::size_t buffersize)
      : state_(std::make_unique<state>(std::forward<Input>(input), std::move(submit), chunksize, buffersize)) {}

  // Walks a run of values (the items up to the next failed one) with a
  // pointer, and asks the state only between runs: as cheap per item as
  // iterating a vector.
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    // Rethrows the item's exception if it failed (the iterator stays valid:
    // ++ moves past it).
    R& operator*() const { return p_ != nullptr ? unbox(*p_) : s_->value(); }
    R* operator->() const { return &**this; }
    iterator& operator++() {
      if (p_ != nullptr && ++p_ != end_) return *this;
      const bool after_run = p_ != nullptr;
      const auto run = static_cast<std::size_t>(end_ - begin_);
      begin_ = p_ = end_ = nullptr;  // consistent even if the state throws
      if (after_run) {
        s_->skip_values(run);
      } else {
        s_->advance();  // past the item the slow path showed
      }
      load();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return p_ == nullptr && s_->finished; }

   private:
    friend class imap_range;
    explicit iterator(state* s) : s_(s) { load(); }
    void load() {
      std::size_t n = s_->run_length();
      begin_ = p_ = n != 0 ? s_->current.values.data() + s_->value_pos : nullptr;
      end_ = p_ != nullptr ? p_ + n : nullptr;
    }
    state* s_ = nullptr;
    using stored = stored_value_t<R>;
    stored* begin_ = nullptr;  // the run of values being walked: [begin_, end_)
    stored* p_ = nullptr;      // null: at a failed item, or at the end
    stored* end_ = nullptr;
  };

  // Starts reading and submitting; single pass (call once).
  iterator begin() {
    state_->start();
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  struct state {
    state(Input&& in, Submit sub, std::size_t chunk, std::size_t buffer)
        : input(std::forward<Input>(in)), submit(std::move(sub)), chunksize(chunk), buffersize(buffer) {}
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    // Leaving the loop early: what has not started is cancelled; what runs
    // is waited for, because f (and what it refers to) may die with us.
    ~state() {
      for (auto& f : in_flight) f.cancel();
      for (auto& f : in_flight) f.wait();
    }

    void start() {
      next.emplace(std::ranges::begin(input));
      fill();
      settle();
    }
    // Submits chunks while the window has room and the input has items.
    // Reading runs ahead of the consumer, so a failure here (the input
    // throws, the pool was shut down) is kept in `stopped` and thrown once
    // the chunks before it are delivered: at its item, not before them.
    void fill() {
      while (!input_done && !stopped && in_flight.size() < buffersize) {
        std::vector<item_type> chunk;
        try {
          read_chunk(chunk);
          if (cursor() == std::ranges::end(input)) input_done = true;
        } catch (...) {
          stopped = std::current_exception();  // the items read before it still go
        }
        if (chunk.empty()) return;
        try {
          launch(std::move(chunk));
        } catch (...) {
          stopped = std::current_exception();  // at an earlier item than an input failure
        }
      }
    }
    void launch(std::vector<item_type>&& chunk) {
      const std::size_t items = chunk.size();
      in_flight_items.push_back(items);
      try {
        in_flight.push_back(submit(std::move(chunk)));
      } catch (...) {
        in_flight_items.pop_back();
        throw;
      }
      if constexpr (!Ordered) {
        try {
          in_flight.back().add_done_callback([log = completions, id = id_of(in_flight.back())] { log->record(id); });
        } catch (...) {  // never logged, it could never be taken: not in flight after all
          in_flight.back().cancel();
          in_flight.back().wait();
          in_flight.pop_back();
          in_flight_items.pop_back();
          throw;
        }
      }
    }
    // Appends the next up to chunksize items. Reading the input is the
    // consumer's serial part, so a random-access input whose items copy
    // without throwing is copied in one bulk step (a memcpy for trivially
    // copyable items), not item by item; otherwise item by item, so that a
    // copy that throws keeps the items before it.
    void read_chunk(std::vector<item_type>& chunk) {
      if constexpr (std::sized_sentinel_for<std::ranges::sentinel_t<Input>, input_iterator> &&
                    std::random_access_iterator<input_iterator> &&
                    std::is_nothrow_constructible_v<item_type, std::iter_reference_t<input_iterator>>) {
        const auto left = static_cast<std::size_t>(std::ranges::end(input) - cursor());
        const auto n = static_cast<std::ptrdiff_t>(std::min(chunksize, left));
        chunk = std::vector<item_type>(cursor(), cursor() + n);  // constructs only: items need not be assignable
        cursor() += n;
      } else {
        chunk.reserve(std::min<std::size_t>(chunksize, 1024));  // the input may be shorter than a huge chunksize
        while (chunk.size() < chunksize && cursor() != std::ranges::end(input)) {
          chunk.push_back(*cursor());
          ++cursor();
        }
      }
    }
    // The next chunk to consume, done (out of the window), and its item count.
    std::pair<chunk_future, std::size_t> take_next() {
      if constexpr (Ordered) {
        chunk_future f = std::move(in_flight.front());
        in_flight.pop_front();
        const std::size_t items = in_flight_items.front();
        in_flight_items.pop_front();
        f.wait();  // done: no longer in flight
        return {std::move(f), items};
      } else {
        // The next chunk in completion order, from the log its done callback
        // wrote: one callback per chunk (weft::wait would add one to every
        // chunk in flight on every call). Not a race in await_futures' sense:
        // the chunks are the waiter's own finite subtasks, so a waiting
        // worker runs them (else, with every worker of a pool in here,
        // nobody would).
        auto logged = [&] { return completions->beyond(taken); };
        auto park = [&](const wait_policy& p) { return completions->wait_beyond(taken, p); };
        await_futures(in_flight, wait_policy::forever(), /*race=*/false, logged, park);
        ++taken;
        const std::size_t id = completions->take_oldest();  // forgotten: the log stays as small as the window
        auto it = std::find_if(in_flight.begin(), in_flight.end(),
                               [id](const chunk_future& f) { return id_of(f) == id; });
        WEFT_ASSERT(it != in_flight.end(), "imap_unordered: a logged chunk is not in flight");
        const auto at = it - in_flight.begin();
        chunk_future f = std::move(*it);
        in_flight.erase(it);
        const std::size_t items = in_flight_items[static_cast<std::size_t>(at)];
        in_flight_items.erase(in_flight_items.begin() + at);
        return {std::move(f), items};
      }
    }
    static std::size_t id_of(const chunk_future& f) noexcept {
      return reinterpret_cast<std::uintptr_t>(future_access::state(f));
    }
    bool at_error() const noexcept {
      return error_index < current.errors.size() && current.errors[error_index].first == item_pos;
    }
    // The item at the iterator: also after a ++ that threw (the state then
    // fetches the next chunk now).
    R& value() {
      settle();
      WEFT_ASSERT(!finished, "imap: dereferencing the end of the range");
      if (at_error()) std::rethrow_exception(current.errors[error_index].second);
      return unbox(current.values[value_pos]);
    }
    // Moves to the next item (a value or an error), fetching chunks as needed.
    // If it throws (bad_alloc), the positions still point past the chunk
    // consumed, and `stopped` is kept.
    void settle() {
      while (item_pos >= current.items) {
        if (in_flight.empty()) {
          if (!stopped) {
            finished = true;
            return;
          }
          // Reading stopped early: one last item, which throws why.
          begin_chunk(failed_chunk(1, stopped));
          stopped = nullptr;
          continue;
        }
        auto [done, items] = take_next();
        fill();  // first: the window has room again, and workers should not wait on the conversion
        chunk_result<R> next_chunk;
        try {
          next_chunk = to_chunk_result(done.get());
        } catch (...) {  // the whole chunk failed (its worker died): each of its items throws
          next_chunk = failed_chunk(items, std::current_exception());
        }
        begin_chunk(std::move(next_chunk));
      }
    }
    void begin_chunk(chunk_result<R>&& c) noexcept {
      current = std::move(c);
      item_pos = value_pos = error_index = 0;
    }
    static chunk_result<R> failed_chunk(std::size_t items, const std::exception_ptr& e) {
      chunk_result<R> c;
      c.items = items;
      c.errors.reserve(items);
      for (std::size_t i = 0; i < items; ++i) c.errors.emplace_back(i, e);
      return c;
    }
    // Past the current item, a failed one or (after a ++ that threw, or a
    // dereference that fetched a chunk) a value.
    void advance() {
      if (item_pos < current.items) {
        if (at_error()) ++error_index;
        else ++value_pos;
        ++item_pos;
      }
      settle();
    }
    // Past a run of n values.
    void skip_values(std::size_t n) {
      value_pos += n;
      item_pos += n;
      settle();
    }
    // Values from item_pos up to the next failed item or the chunk's end.
    std::size_t run_length() const noexcept {
      if (finished) return 0;
      std::size_t stop = error_index < current.errors.size() ? current.errors[error_index].first : current.items;
      return stop - item_pos;
    }

    Input input;  // a reference for an lvalue input
    // Set by start(). Optional: a C++20 input iterator need not be default
    // constructible (std::views::istream's is not), nor copyable.
    std::optional<input_iterator> next;
    input_iterator& cursor() noexcept { return *next; }
    Submit submit;
    std::size_t chunksize, buffersize;
    std::deque<chunk_future> in_flight;      // ordered by submission
    std::deque<std::size_t> in_flight_items;  // the items of each, in the same order
    // imap_unordered: ids of chunks (their states' addresses: unique while
    // in flight) in completion order, and how many were taken (modulo 2^32
    // is what counts: see completion_log::beyond).
    std::shared_ptr<completion_log> completions = std::make_shared<completion_log>();
    std::size_t taken = 0;
    chunk_result<R> current;             // the chunk being consumed
    std::size_t item_pos = 0, value_pos = 0, error_index = 0;
    bool input_done = false, finished = false;
    std::exception_ptr stopped;  // why reading stopped early; thrown after the chunks before it
  };
  std::unique_ptr<state> state_;  // stable address: chunk tasks may refer to it
};

}  // namespace weft::detail
