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
#include <weft/detail/range_access.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/serialize.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <ranges>
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
// as its bytes. Specialized for map()'s chunk wrapper, which holds one.
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

// Worker side: runs one task frame and returns the reply frame. An exception
// from the task (or a code word that names no code) becomes a failure reply.
inline std::vector<std::byte> run_task_frame(std::span<const std::byte> frame, const code_resolver& code) {
  reader in(frame);
  std::vector<std::byte> reply;
  writer out(reply);
  out.write(in.read<std::uint64_t>());  // the id goes back unchanged
  std::vector<std::byte> result;
  writer result_out(result);
  try {
    auto fn = reinterpret_cast<invoker_fn>(code(in.read<std::uint64_t>()));
    fn(in, result_out, code);
    out.write(true);
    out.write_bytes(result.data(), result.size());
  } catch (const std::exception& e) {
    out.write(false);
    out.write(demangled(typeid(e).name()));
    out.write(std::string(e.what()));
  } catch (...) {
    out.write(false);
    out.write(std::string("(non-standard exception)"));
    out.write(std::string("a task threw something that is not a std::exception"));
  }
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
  remote_task t{id, nullptr, &complete_as<R>, &fail_as<R>, &start_as<R>};
  writer w(t.payload);
  w.write(id);
  w.write(encode(reinterpret_cast<std::uintptr_t>(&invoke_in_worker<F, R, std::decay_t<Args>...>)));
  callable_codec<F>::write(w, f, encode);
  (w.write(args), ...);
  auto* state = new promise_state<R>(nullptr, 2);  // the future's and the task's
  t.state = state;
  return {std::move(t), future<R>(state)};
}

// A chunk of map(): applies F to every element, as one task.
template <class F, class T>
struct map_chunk {
  F f;
  auto operator()(const std::vector<T>& items) const {
    std::vector<std::invoke_result_t<const F&, const T&>> out;
    out.reserve(items.size());
    for (const auto& x : items) out.push_back(f(x));
    return out;
  }
};

template <class F, class T>
struct callable_codec<map_chunk<F, T>> {
  template <class Encode>
  static void write(writer& w, const map_chunk<F, T>& chunk, Encode& encode) {
    callable_codec<F>::write(w, chunk.f, encode);
  }
  static map_chunk<F, T> read(reader& in, const code_resolver& code) { return {callable_codec<F>::read(in, code)}; }
};

template <class F, class Range>
using remote_map_result_t = std::vector<std::invoke_result_t<F&, std::ranges::range_value_t<Range>>>;

// map() for any pool with submit() and size(): sends `chunksize` items per
// task (0: about four chunks per worker), waits for every chunk, then
// rethrows the first failure in input order or returns the results in order.
template <class Pool, class F, class Range>
remote_map_result_t<F, Range> remote_map(Pool& pool, F f, const Range& items, std::size_t chunksize) {
  using T = std::ranges::range_value_t<Range>;
  using R = std::invoke_result_t<F&, T>;
  static_assert(!std::is_void_v<R>, "weft: map over a process or MPI pool: f returns void; use submit instead");
  const auto count = detail::range_length(items);
  const std::size_t workers = std::max<std::size_t>(1, pool.size());
  if (chunksize == 0) chunksize = std::max<std::size_t>(1, (count + 4 * workers - 1) / (4 * workers));
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
    for (auto& r : p.get()) results.push_back(std::move(r));
  return results;
}

}  // namespace weft::detail
