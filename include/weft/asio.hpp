// weft — MIT licence. See LICENSE.
//
// <weft/asio.hpp> — IO for weft::task (optional; needs Boost.Asio, Debian
// libboost-dev): every Asio asynchronous operation (sockets, timers, the
// resolver, Boost.Beast's HTTP) becomes awaitable with the completion token
// weft::use_task, and the task's loop runs an asio::io_context itself, on
// its own thread: no extra thread, as asyncio's loop polls its selector.
//
//   weft::task<std::string> fetch_greeting(tcp::endpoint server) {
//     tcp::socket socket(weft::io_context());  // this loop's io_context
//     co_await socket.async_connect(server, weft::use_task);
//     std::array<char, 64> buf;
//     std::size_t n = co_await socket.async_read_some(asio::buffer(buf), weft::use_task);
//     co_return std::string(buf.data(), n);
//   }
//
// Results: an operation completing with (error_code, T) returns T and throws
// boost::system::system_error for an error, as Asio's use_awaitable does;
// (error_code) returns nothing; several values come back as a std::tuple.
// Cancellation: a stop request while an operation is in progress resumes
// the task at once with weft::cancelled, abandoning the operation (Boost
// 1.74 has no per-operation cancellation): the operation still owns its IO
// object and buffers until that object is closed or destroyed. So keep
// both in the task's frame, as above and in the examples: unwinding
// destroys the socket, which ends the operation before the buffers go. A
// socket that outlives the task (passed by reference) must be closed, or
// cancel()ed, by its owner after a cancellation, before anything else
// reads from it: until then the abandoned read still takes its bytes.
#pragma once

#if !__has_include(<boost/asio/io_context.hpp>)
#error "<weft/asio.hpp> needs Boost.Asio (Debian: libboost-dev); weft's other headers do not"
#endif

#include <weft/detail/coro_core.hpp>
#include <weft/detail/event_loop.hpp>
#include <weft/task.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft {

// The completion token that makes an Asio operation awaitable in a weft::task.
struct use_task_t {
  constexpr use_task_t() noexcept = default;
};
inline constexpr use_task_t use_task{};

namespace detail {

// The loop's driver when Asio is in: the loop waits in io_context::run_one
// (so IO completions wake it) instead of on its futex, and other threads
// wake it with a post().
class asio_driver final : public loop_driver {
 public:
  boost::asio::io_context& context() noexcept { return context_; }
  void poll() override { context_.poll(); }
  void wait(steady_time deadline) override {
    if (deadline == steady_time::max()) {
      context_.run_one();
    } else {
      context_.run_one_until(deadline);
    }
  }
  void wake() noexcept override {
    try {
      boost::asio::post(context_, [] {});
    } catch (...) {  // allocation failed: the loop still wakes at its next timer or IO event
    }
  }

 private:
  boost::asio::io_context context_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_{context_.get_executor()};
};

inline asio_driver& asio_driver_of(event_loop& loop) {
  if (auto* d = dynamic_cast<asio_driver*>(loop.driver())) return *d;
  if (loop.driver() != nullptr) throw std::logic_error("weft::io_context: this loop already has another driver");
  auto owned = std::make_unique<asio_driver>();
  asio_driver& d = *owned;
  loop.adopt_driver(std::move(owned));
  return d;
}

// The awaiter of one Asio operation. The handler reaches it through a link
// that the awaiter cuts when it is destroyed or cancelled, so a completion
// that comes later (an abandoned operation) touches nothing. Everything runs
// on the loop thread that drives the io_context, except the wake-up, which
// may cross to another loop's thread.
template <class Initiation, class Args, class... Values>
class asio_awaiter final : public suspension {
 public:
  asio_awaiter(task_context& ctx, Initiation&& init, Args&& args)
      : suspension(ctx), init_(std::move(init)), args_(std::move(args)), link_(std::make_shared<link>()) {}
  ~asio_awaiter() { link_->target = nullptr; }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    suspend(h);
    link_->target = this;
    std::apply([&](auto&&... a) { std::move(init_)(handler{link_}, std::move(a)...); }, std::move(args_));
  }
  auto await_resume() {
    if (cancelled_) throw_task_cancelled();
    if (error_) throw boost::system::system_error(error_);
    if constexpr (sizeof...(Values) == 1) {
      return std::move(std::get<0>(*values_));
    } else if constexpr (sizeof...(Values) > 1) {
      return std::move(*values_);
    }
  }
  void on_cancel() noexcept override {
    if (link_->target == nullptr) return;  // completed: delivered, cancelled at the next co_await
    link_->target = nullptr;               // abandon the operation
    cancelled_ = true;
    wake();
  }

 private:
  struct link {
    asio_awaiter* target = nullptr;
  };
  struct handler {
    std::shared_ptr<link> to;
    template <class... Got>
    void operator()(boost::system::error_code ec, Got&&... got) {
      asio_awaiter* a = std::exchange(to->target, nullptr);
      if (a == nullptr) return;
      a->error_ = ec;
      a->values_.emplace(std::forward<Got>(got)...);
      a->wake();
    }
    template <class... Got>
      requires(sizeof...(Got) == 0 || !std::is_same_v<std::decay_t<std::tuple_element_t<0, std::tuple<Got..., int>>>, boost::system::error_code>)
    void operator()(Got&&... got) {  // an operation without an error_code
      asio_awaiter* a = std::exchange(to->target, nullptr);
      if (a == nullptr) return;
      a->values_.emplace(std::forward<Got>(got)...);
      a->wake();
    }
  };

  Initiation init_;
  Args args_;
  std::shared_ptr<link> link_;
  boost::system::error_code error_;
  std::optional<std::tuple<Values...>> values_;
  bool cancelled_ = false;  // loop thread only
};

// What co_await op(..., use_task) receives: the initiation and its
// arguments, kept until the task awaits them.
template <class Initiation, class Args, class... Values>
class asio_operation {
 public:
  asio_operation(Initiation&& init, Args&& args) : init_(std::move(init)), args_(std::move(args)) {}
  asio_awaiter<Initiation, Args, Values...> make_awaiter(task_context& ctx) && {
    return asio_awaiter<Initiation, Args, Values...>(ctx, std::move(init_), std::move(args_));
  }

 private:
  Initiation init_;
  Args args_;
};

}  // namespace detail

// The calling thread's loop's io_context, created on first use: IO objects
// built on it complete on this loop. Throws std::logic_error outside a loop.
inline boost::asio::io_context& io_context() {
  detail::event_loop* loop = detail::event_loop::current();
  if (loop == nullptr)
    throw std::logic_error("weft::io_context: no event loop on this thread; call it inside weft::run");
  return detail::asio_driver_of(*loop).context();
}

}  // namespace weft

namespace boost::asio {

// One specialization makes every Asio operation awaitable in a weft::task.
template <class R, class... Args>
class async_result<weft::use_task_t, R(Args...)> {
  template <class... V>
  struct values_of {
    template <class Initiation, class InitArgs>
    using operation = weft::detail::asio_operation<Initiation, InitArgs, std::decay_t<V>...>;
  };
  template <class... A>
  struct without_error_code {
    using type = values_of<A...>;
  };
  template <class... A>
  struct without_error_code<boost::system::error_code, A...> {
    using type = values_of<A...>;
  };
  template <class... A>
  struct without_error_code<const boost::system::error_code&, A...> {
    using type = values_of<A...>;
  };

 public:
  template <class Initiation, class... InitArgs>
  using operation_t = typename without_error_code<Args...>::type::template operation<
      std::decay_t<Initiation>, std::tuple<std::decay_t<InitArgs>...>>;

  template <class Initiation, class... InitArgs>
  static operation_t<Initiation, InitArgs...> initiate(Initiation&& init, weft::use_task_t, InitArgs&&... args) {
    return operation_t<Initiation, InitArgs...>(std::decay_t<Initiation>(std::forward<Initiation>(init)),
                                                std::tuple<std::decay_t<InitArgs>...>(std::forward<InitArgs>(args)...));
  }
};

}  // namespace boost::asio
