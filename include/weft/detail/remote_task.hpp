// weft — MIT licence. See LICENSE.
//
// <weft/detail/remote_task.hpp> — internal: a task that runs in another
// process (process_pool's forked workers, mpi_pool's ranks). Not API.
//
// Wire format of a task:  id (u64), function word (u64), callable bytes,
//                         serialized arguments.
// Wire format of a reply: id (u64), ok (bool), then the serialized result,
//                         or the exception's type name and what().
// The function word names `invoke_in_worker<F, R, Args...>` in the same
// binary; a function pointer callable is sent as a code word too. How code
// words are encoded is the pool's business (a raw address between forks, an
// offset into the loaded image between MPI ranks). Other callables travel as
// raw bytes, so between MPI ranks they must not hold pointers.
#pragma once

#include <weft/detail/boundary_check.hpp>
#include <weft/detail/imap.hpp>
#include <weft/detail/range_access.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/serialize.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <array>
#include <bit>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iterator>  // std::ranges::begin, end, iterator_t (not <ranges>: no views are used)
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <cxxabi.h>

namespace weft::detail {

// How a worker turns a code word from the wire (the invoker, or a function
// pointer sent as the callable) back into an address. Forks of one process
// share addresses (context null: the word is the address); MPI ranks map
// image offsets (see code_address.hpp). Throws protocol_error for a word
// that names no code.
struct code_resolver {
  std::uintptr_t (*resolve)(const void* context, std::uint64_t word) = nullptr;
  const void* context = nullptr;
  std::uintptr_t operator()(std::uint64_t word) const {
    return resolve == nullptr ? static_cast<std::uintptr_t>(word) : resolve(context, word);
  }
};

using invoker_fn = void (*)(reader& in, writer& out, const code_resolver& code);

template <class F>
inline constexpr bool is_function_pointer_v = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

// How a callable travels: a function pointer as a code word, anything else
// as its bytes. Specialized below for weft's chunk wrappers, which hold one.
template <class F>
struct callable_codec {
  template <class Encode>
  static void write(writer& w, const F& f, Encode& encode) {
    if constexpr (is_function_pointer_v<F>) {
      w.write(encode(reinterpret_cast<std::uintptr_t>(f)));
    } else {
      w.write_bytes(&f, sizeof f);
    }
  }
  static F read(reader& in, const code_resolver& code) {
    if constexpr (is_function_pointer_v<F>) {
      return reinterpret_cast<F>(code(in.read<std::uint64_t>()));
    } else {
      std::array<std::byte, sizeof(F)> bytes;
      in.read_bytes(bytes.data(), bytes.size());
      return std::bit_cast<F>(bytes);
    }
  }
};

// Runs in the worker: rebuilds the callable and the arguments from the
// stream, calls it and writes the result.
template <class F, class R, class... Args>
void invoke_in_worker(reader& in, writer& out, const code_resolver& code) {
  F f = callable_codec<F>::read(in, code);
  std::tuple<Args...> args{in.read<Args>()...};  // braced: read left to right
  if constexpr (std::is_void_v<R>) {
    std::apply(f, std::move(args));
  } else {
    out.write(std::apply(f, std::move(args)));
  }
}

inline std::string demangled(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : name;
  std::free(d);
  return out;
}

// The type name and what() of the exception being handled: call it in a
// catch block. What of an exception crosses a process boundary.
inline std::pair<std::string, std::string> describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return {demangled(typeid(e).name()), e.what()};
  } catch (...) {
    return {"(non-standard exception)", "a task threw something that is not a std::exception"};
  }
}
inline std::pair<std::string, std::string> describe_exception(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (...) {
    return describe_current_exception();
  }
}

// Worker side: runs one task frame and writes the reply frame into `reply`
// (cleared first; its capacity is reused, so a worker that keeps one buffer
// allocates nothing per task for the frame). The result is written in
// place behind the id and the ok flag; if the task throws (or a code word
// names no code), what it wrote is cut off and a failure reply follows.
inline void run_task_frame_into(std::span<const std::byte> frame, const code_resolver& code,
                                std::vector<std::byte>& reply) {
  reply.clear();
  reader in(frame);
  writer out(reply);
  out.write(in.read<std::uint64_t>());  // the id goes back unchanged
  const std::size_t header = reply.size();
  try {
    auto fn = reinterpret_cast<invoker_fn>(code(in.read<std::uint64_t>()));
    out.write(true);
    fn(in, out, code);
  } catch (...) {
    reply.resize(header);
    auto [type, what] = describe_current_exception();
    out.write(false);
    out.write(type);
    out.write(what);
  }
}
inline std::vector<std::byte> run_task_frame(std::span<const std::byte> frame, const code_resolver& code) {
  std::vector<std::byte> reply;
  run_task_frame_into(frame, code, reply);
  return reply;
}

// Worker side: a reply frame over max_bytes (a transport limit, e.g. one
// MPI message) becomes a failure reply for the same task, so the client's
// future fails with remote_error instead of the worker dying.
inline std::vector<std::byte> reply_within(std::vector<std::byte> reply, std::size_t max_bytes, const char* what) {
  if (reply.size() <= max_bytes) return reply;
  reader in(reply);
  std::vector<std::byte> out;
  writer w(out);
  w.write(in.read<std::uint64_t>());
  w.write(false);
  w.write(std::string("std::length_error"));
  w.write(std::string(what));
  return out;
}

// Client side: a submitted task, its payload and the type-erased hooks that
// complete its future. Move-only; it owns one reference to the future's
// state, so a task dropped without an outcome (e.g. when a push_back
// throws) still completes its future: cancelled if it never started, else
// failed with weft::cancelled. Not thread-safe.
struct remote_task {
  std::uint64_t id = 0;
  std::vector<std::byte> payload;      // the task frame
  state_base* state = nullptr;         // one reference owned by the task; null once moved or released
  void (*complete)(state_base*, reader&) = nullptr;
  void (*fail)(state_base*, std::exception_ptr) = nullptr;
  bool (*start)(state_base*) = nullptr;  // pending -> running; false if cancelled
  bool started = false;                  // start() succeeded (a task can be re-queued)
  bool waiting = true;                   // counted by the pool's pending(): no worker ran it yet (remote_pool_core)
  std::chrono::nanoseconds timeout{0};   // process_pool::submit_with: from the start of its run; 0: none

  remote_task() = default;
  remote_task(std::uint64_t id_, state_base* state_, void (*complete_)(state_base*, reader&),
              void (*fail_)(state_base*, std::exception_ptr), bool (*start_)(state_base*)) noexcept
      : id(id_), state(state_), complete(complete_), fail(fail_), start(start_) {}
  remote_task(remote_task&& o) noexcept
      : id(o.id),
        payload(std::move(o.payload)),
        state(std::exchange(o.state, nullptr)),
        complete(o.complete),
        fail(o.fail),
        start(o.start),
        started(o.started),
        waiting(o.waiting),
        timeout(o.timeout) {}
  remote_task& operator=(remote_task&& o) noexcept {
    if (this != &o) {
      abandon();
      id = o.id;
      payload = std::move(o.payload);
      state = std::exchange(o.state, nullptr);
      complete = o.complete;
      fail = o.fail;
      start = o.start;
      started = o.started;
      waiting = o.waiting;
      timeout = o.timeout;
    }
    return *this;
  }
  ~remote_task() { abandon(); }

  // Moves the future to running; false if it was cancelled (the task then
  // must not run). Idempotent, so a re-queued task is not started twice.
  bool try_start() {
    if (!started) started = start(state);
    return started;
  }
  // Fails the future with e (starting it first if needed; a future already
  // cancelled stays cancelled).
  void fail_with(std::exception_ptr e) {
    if (try_start()) fail(state, std::move(e));
  }
  // Completes the future from a reply frame (protocol errors fail it).
  void complete_from(std::span<const std::byte> reply) {
    try {
      reader in(reply);
      if (in.read<std::uint64_t>() != id) reader::fail("reply for another task");
      if (in.read<bool>()) {
        complete(state, in);
      } else {
        auto type = in.read<std::string>();
        auto what = in.read<std::string>();
        fail(state, std::make_exception_ptr(remote_error(std::move(type), what)));
      }
    } catch (...) {
      fail(state, std::current_exception());
    }
  }
  // A task cancelled before it ran (by its future or by a shutdown). One
  // that was started but given back unrun (re-queued from a dead worker)
  // ends cancelled too.
  void cancel_unstarted() noexcept {
    if (started)
      state->cancel_claimed();
    else
      state->cancel();
  }
  // A task refused before it reached a queue: its future reads cancelled.
  void discard() noexcept {
    state->cancel();
    release();
  }
  // Drops the task's reference to its future's state.
  void release() noexcept {
    state->release();
    state = nullptr;
  }

 private:
  // A task dropped while it still owns its future: cancel it (or fail it,
  // if it started) so that no waiter waits forever.
  void abandon() noexcept {
    if (state == nullptr) return;
    if (started) {
      try {
        fail(state, std::make_exception_ptr(cancelled("weft: the pool dropped this task before it finished")));
      } catch (...) {  // make_exception_ptr's allocation failed: nothing more can be reported
      }
    } else {
      state->cancel();
    }
    release();
  }
};

template <class R>
void complete_as(state_base* s, reader& in) {
  auto* p = static_cast<promise_state<R>*>(s);
  try {
    if constexpr (std::is_void_v<R>) {
      p->complete_value();
    } else {
      p->complete_value(in.read<R>());
    }
  } catch (...) {
    p->complete_exception(std::current_exception());  // e.g. a protocol_error decoding R
  }
}
template <class R>
void fail_as(state_base* s, std::exception_ptr e) {
  static_cast<promise_state<R>*>(s)->complete_exception(std::move(e));
}
template <class R>
bool start_as(state_base* s) {
  return static_cast<promise_state<R>*>(s)->start();
}

template <class F, class... Args>
using remote_result_t = std::invoke_result_t<F&, std::decay_t<Args>...>;

// Checks what can cross a process boundary (readable errors at compile time),
// then builds the task frame and the future it completes. `encode` turns a
// code address (the invoker's, and f's if it is a function pointer) into a
// code word; it may throw.
template <class F, class Encode, class... Args>
std::pair<remote_task, future<remote_result_t<F, Args...>>> make_remote_task(std::uint64_t id, Encode encode, F f,
                                                                             Args&&... args) {
  using R = remote_result_t<F, Args...>;
  require_crossable<F, R, std::decay_t<Args>...>();  // boundary_check.hpp: readable compile errors
  if constexpr (!crossable_task<F, R, std::decay_t<Args>...>) {
    return {};  // the static_assert above is the one error: nothing below is instantiated
  } else {
    remote_task t{id, nullptr, &complete_as<R>, &fail_as<R>, &start_as<R>};
    writer w(t.payload);
    w.write(id);
    w.write(encode(reinterpret_cast<std::uintptr_t>(&invoke_in_worker<F, R, std::decay_t<Args>...>)));
    callable_codec<F>::write(w, f, encode);
    (w.write(args), ...);
    auto* state = new promise_state<R>(nullptr, 2);  // the future's and the task's
    t.state = state;
    return {std::move(t), future_access::make<R>(state)};
  }
}

// A chunk of map(): applies F to every element, as one task.
template <class F, class T>
struct map_chunk {
  static constexpr bool wraps_user_callable = true;  // boundary_check.hpp: f is what crosses
  F f;
  auto operator()(const std::vector<T>& items) const {
    std::vector<std::invoke_result_t<const F&, const T&>> out;
    out.reserve(items.size());
    for (const auto& x : items) out.push_back(f(x));
    return out;
  }
};

// What an imap chunk run in another process sends back: the values of the
// items that succeeded, in order, and for each failed item its position,
// exception type name and what() (an exception_ptr cannot cross).
using remote_item_error = std::tuple<std::uint64_t, std::string, std::string>;
template <class R>
struct remote_chunk_result {
  std::vector<stored_value_t<R>> values;  // bool results boxed, as chunk_result's (imap.hpp)
  std::vector<remote_item_error> errors;  // ascending positions
  std::uint64_t items = 0;
};

// Client side: each failed item becomes a weft::remote_error, rethrown when
// the consumer reaches it (imap.hpp calls this through ADL).
template <class R>
chunk_result<R> to_chunk_result(remote_chunk_result<R>&& c) {
  chunk_result<R> out;
  out.values = std::move(c.values);
  out.items = static_cast<std::size_t>(c.items);
  for (auto& [position, type, what] : c.errors)
    out.errors.emplace_back(static_cast<std::size_t>(position),
                            std::make_exception_ptr(remote_error(std::move(type), what)));
  return out;
}

// A chunk of imap(): applies F to every item as run_chunk does (a failed
// item does not stop the others), as one task.
template <class F, class T>
struct imap_chunk {
  static constexpr bool wraps_user_callable = true;  // boundary_check.hpp: f is what crosses
  F f;
  auto operator()(std::vector<T> items) const {
    using R = std::invoke_result_t<F&, T&&>;
    F g = f;
    chunk_result<R> local = run_chunk<R>(g, items);
    remote_chunk_result<R> out{std::move(local.values), {}, local.items};
    for (auto& [position, e] : local.errors) {
      auto [type, what] = describe_exception(e);
      out.errors.emplace_back(position, std::move(type), std::move(what));
    }
    return out;
  }
};

// weft's chunk wrappers travel as the user's callable they hold.
template <class W>
  requires wraps_user_callable<W>
struct callable_codec<W> {
  using user_callable = decltype(std::declval<W&>().f);
  template <class Encode>
  static void write(writer& w, const W& chunk, Encode& encode) {
    callable_codec<user_callable>::write(w, chunk.f, encode);
  }
  static W read(reader& in, const code_resolver& code) { return {callable_codec<user_callable>::read(in, code)}; }
};

// A remote imap's default window: 4 chunks per worker (DESIGN). The pool's
// pipeline keeps 2 tasks per worker in flight; a window of 2 per worker
// left imap_unordered at 0.81-0.88x map_chunked (issue 24).
inline std::size_t default_remote_buffersize(std::size_t workers) { return 4 * std::max<std::size_t>(1, workers); }

// A remote map's default chunk: about four chunks per worker.
inline std::size_t default_chunksize(std::size_t count, std::size_t workers) {
  workers = std::max<std::size_t>(1, workers);
  return std::max<std::size_t>(1, (count + 4 * workers - 1) / (4 * workers));
}

template <class F, class Range>
using remote_map_result_t = map_result_t<std::invoke_result_t<F&, std::ranges::range_value_t<Range>>>;

// map() for any pool with submit() and size(): sends `chunksize` items per
// task (0: about four chunks per worker), waits for every chunk, then
// rethrows the first failure in input order or returns the results in order.
// Range may be const (items is read as map_input_t says).
template <class Pool, class F, class Range>
remote_map_result_t<F, Range> remote_map(Pool& pool, F f, Range& items, std::size_t chunksize) {
  using T = std::ranges::range_value_t<Range>;
  using R = std::invoke_result_t<F&, T>;
  static_assert(!std::is_void_v<R>,
                "weft: map over a process or MPI pool: use submit for an f that returns void (map collects f's "
                "results)");
  static_assert(!detail::endless_range<Range>,
                "weft: map over a process or MPI pool: the range never ends; stream it with imap or imap_unordered");
  if constexpr (std::is_void_v<R> || detail::endless_range<Range>) {
    return {};  // the static_assert above is the one error
  } else {
    const auto count = detail::range_length(items);
    if (chunksize == 0) chunksize = default_chunksize(count, pool.size());
    std::vector<future<std::vector<R>>> parts;
    std::vector<T> chunk;
    std::exception_ptr submit_error;
    try {
      for (const auto& x : items) {
        chunk.push_back(x);
        if (chunk.size() == chunksize) parts.push_back(pool.submit(map_chunk<F, T>{f}, std::exchange(chunk, {})));
      }
      if (!chunk.empty()) parts.push_back(pool.submit(map_chunk<F, T>{f}, std::move(chunk)));
    } catch (...) {
      submit_error = std::current_exception();
    }
    for (auto& p : parts) p.wait();  // every chunk finishes before anything is rethrown
    if (submit_error) std::rethrow_exception(submit_error);
    remote_map_result_t<F, Range> results;
    results.reserve(count);
    for (auto& p : parts)
      for (auto&& r : p.get()) results.push_back(std::move(r));  // auto&&: vector<bool>'s proxy
    return results;
  }
}

// imap() / imap_unordered() for any pool with submit() and size(): the
// shared streaming algorithm (imap.hpp) with chunks run as imap_chunk tasks.
// Default chunk: map()'s for a sized input, else 1 (as Python's imap);
// default window: default_remote_buffersize. The range refers to the pool.
template <bool Ordered, class Pool, class F, class Range>
auto remote_imap(Pool& pool, F f, Range&& input, map_options options) {
  using T = std::ranges::range_value_t<Range>;
  using R = std::invoke_result_t<F&, T&&>;
  static_assert(!std::is_void_v<R>,
                "weft: imap over a process or MPI pool: use submit for an f that returns void (imap yields f's "
                "results)");
  if constexpr (std::is_void_v<R>) {
    return std::vector<int>{};  // the static_assert above is the one error (no imap_range<void>)
  } else if constexpr (!crossable_task<F, R, T>) {
    // The chunk's own types hide the user's from make_remote_task's check,
    // so it is made here, and nothing is submitted: the chunk's result would
    // be a second error. The vector only lets the caller's loop compile.
    require_crossable<F, R, T>();
    return std::vector<std::remove_cvref_t<R>>{};
  } else {
    std::size_t chunksize = options.chunksize;
    if constexpr (std::ranges::sized_range<Range>) {
      if (chunksize == 0) chunksize = default_chunksize(static_cast<std::size_t>(std::ranges::size(input)), pool.size());
    }
    chunksize = std::max<std::size_t>(1, chunksize);
    const std::size_t buffersize = options.buffersize != 0 ? options.buffersize : default_remote_buffersize(pool.size());
    auto submit_chunk = [&pool, f](std::vector<T>&& chunk) { return pool.submit(imap_chunk<F, T>{f}, std::move(chunk)); };
    return imap_range<Range, R, decltype(submit_chunk), Ordered>(std::forward<Range>(input), std::move(submit_chunk),
                                                                chunksize, buffersize);
  }
}

// map(), imap() and imap_unordered() of a remote pool (process_pool,
// mpi_pool), written once over the pool's public submit() and size() and
// its private refuse_if_closed() (the pool befriends this base).
template <class Pool>
class remote_maps {
 public:
  // Applies f to every element in the pool's workers, `chunksize` elements
  // per message (0: about four chunks per worker); results in input order.
  // Rethrows the first failure (input order) after every chunk finished.
  // Blocks. Throws weft::pool_closed.
  template <class F, std::ranges::forward_range Range>
  auto map(F f, Range&& items, std::size_t chunksize = 0) -> remote_map_result_t<F, Range> {
    map_input_t<Range> input = items;
    return remote_map(self(), f, input, chunksize);
  }

  // Lazy map (Python's Pool.imap): a single-pass range of f(item) in input
  // order, computed in the pool's workers. Reads `input` (single-pass or
  // unbounded) only while fewer than options.buffersize chunks (default
  // 4 x size()) of options.chunksize items (default: map()'s for a sized
  // input, else 1) are in flight, so memory stays bounded. Dereferencing a
  // failed item rethrows its exception as weft::remote_error (each item of
  // a chunk whose worker died: weft::worker_lost); ++ moves past it. An
  // input that throws, or a pool shut down meanwhile, ends the range with
  // one more item that throws why, after everything read before it.
  // Leaving the loop early cancels the chunks not yet sent and waits for
  // the running ones. The pool, and an lvalue input, must outlive the
  // range. Iterate from one thread. Throws weft::pool_closed.
  template <class F, std::ranges::input_range Range>
  auto imap(F f, Range&& input, map_options options = {}) {
    self().refuse_if_closed("imap");
    return remote_imap<true>(self(), f, std::forward<Range>(input), options);
  }
  // The same, yielding results as their chunks complete (imap_unordered).
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F f, Range&& input, map_options options = {}) {
    self().refuse_if_closed("imap_unordered");
    return remote_imap<false>(self(), f, std::forward<Range>(input), options);
  }

 private:
  Pool& self() noexcept { return static_cast<Pool&>(*this); }
};

}  // namespace weft::detail

namespace weft {

// How an imap chunk's outcome crosses back (remote_task.hpp).
template <class R>
struct serializer<detail::remote_chunk_result<R>> {
  static void write(writer& w, const detail::remote_chunk_result<R>& c) {
    w.write(c.values);
    w.write(c.errors);
    w.write(c.items);
  }
  static detail::remote_chunk_result<R> read(reader& in) {
    detail::remote_chunk_result<R> c;
    c.values = in.read<std::vector<detail::stored_value_t<R>>>();
    c.errors = in.read<std::vector<detail::remote_item_error>>();
    c.items = in.read<std::uint64_t>();
    return c;
  }
};

}  // namespace weft
