// weft — MIT licence. See LICENSE.
// async/<impl>/http_get — loopback HTTP/1.1 GETs per second with 100 in
// flight: one process, one thread, one event loop serving both sides: 100
// client connections (keep-alive), each sending requests one after the
// other, and a server coroutine per connection answering "ok". Counts
// requests/s (items_per_second).
// <impl>: weft (<weft/asio.hpp> + Boost.Beast over weft::use_task), asio
// (Asio's own C++20 coroutines: awaitable, co_spawn, use_awaitable, same
// Beast calls). Python aiohttp's figure: bench/python/async_bench.py.
// Compiled in with WEFT_BENCH_HAVE_BOOST.
#include "harness.hpp"

#if defined(WEFT_BENCH_HAVE_BOOST) && __has_include(<boost/beast/http.hpp>) && __has_include(<boost/asio/awaitable.hpp>)
#include <weft/asio.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <vector>

namespace weft_bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr int connections = 100;
constexpr int requests_per_connection = 100;  // 10,000 requests per run

http::request<http::empty_body> get_request() {
  http::request<http::empty_body> req{http::verb::get, "/", 11};
  req.set(http::field::host, "127.0.0.1");
  req.keep_alive(true);
  return req;
}
http::response<http::string_body> ok_response(unsigned version) {
  http::response<http::string_body> res{http::status::ok, version};
  res.body() = "ok";
  res.keep_alive(true);
  res.prepare_payload();
  return res;
}
tcp::endpoint loopback() { return tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0); }

// ---- weft ----
weft::task<void> weft_serve_connection(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request<http::empty_body> req;
    boost::system::error_code ec;
    try {
      co_await http::async_read(socket, buffer, req, weft::use_task);
    } catch (const boost::system::system_error&) {
      co_return;  // the client closed the connection
    }
    auto res = ok_response(req.version());
    co_await http::async_write(socket, res, weft::use_task);
  }
}
weft::task<void> weft_accept(tcp::acceptor& acceptor) {
  for (int i = 0; i < connections; ++i) {
    tcp::socket s = co_await acceptor.async_accept(weft::use_task);
    (void)weft::spawn(weft_serve_connection(std::move(s)));
  }
}
weft::task<int> weft_client(tcp::endpoint server) {
  tcp::socket socket(weft::io_context());
  co_await socket.async_connect(server, weft::use_task);
  boost::beast::flat_buffer buffer;
  int ok = 0;
  for (int i = 0; i < requests_per_connection; ++i) {
    auto req = get_request();
    co_await http::async_write(socket, req, weft::use_task);
    http::response<http::string_body> res;
    co_await http::async_read(socket, buffer, res, weft::use_task);
    ok += res.result() == http::status::ok;
  }
  co_return ok;
}
weft::task<int> weft_http_run() {
  tcp::acceptor acceptor(weft::io_context(), loopback());
  acceptor.listen(connections);
  auto server = weft::spawn(weft_accept(acceptor));
  std::vector<weft::task<int>> clients;
  for (int c = 0; c < connections; ++c) clients.push_back(weft_client(acceptor.local_endpoint()));
  int ok = 0;
  for (int n : co_await weft::gather(std::move(clients))) ok += n;
  co_await server;
  co_return ok;
}

// ---- Asio's own coroutines ----
asio::awaitable<void> asio_serve_connection(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request<http::empty_body> req;
    try {
      co_await http::async_read(socket, buffer, req, asio::use_awaitable);
    } catch (const boost::system::system_error&) {
      co_return;
    }
    auto res = ok_response(req.version());
    co_await http::async_write(socket, res, asio::use_awaitable);
  }
}
asio::awaitable<void> asio_accept(tcp::acceptor& acceptor) {
  for (int i = 0; i < connections; ++i) {
    tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), asio_serve_connection(std::move(s)), asio::detached);
  }
}
asio::awaitable<void> asio_client(tcp::endpoint server, int& ok) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  boost::beast::flat_buffer buffer;
  for (int i = 0; i < requests_per_connection; ++i) {
    auto req = get_request();
    co_await http::async_write(socket, req, asio::use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(socket, buffer, res, asio::use_awaitable);
    ok += res.result() == http::status::ok;
  }
}
int asio_http_run() {
  asio::io_context io(1);
  tcp::acceptor acceptor(io, loopback());
  acceptor.listen(connections);
  int ok = 0;
  asio::co_spawn(io, asio_accept(acceptor), asio::detached);
  for (int c = 0; c < connections; ++c) asio::co_spawn(io, asio_client(acceptor.local_endpoint(), ok), asio::detached);
  io.run();
  return ok;
}

template <class Once>
void http_bench(benchmark::State& state, Once once) {
  constexpr int total = connections * requests_per_connection;
  for (auto _ : state)
    if (once() != total) state.SkipWithError("not every request was answered");
  state.SetItemsProcessed(state.iterations() * total);
}
void bm_weft_http_get(benchmark::State& state) {
  http_bench(state, [] { return weft::run(weft_http_run()); });
}
void bm_asio_http_get(benchmark::State& state) { http_bench(state, asio_http_run); }

}  // namespace

void register_async_http() {
  add("async/weft/http_get", bm_weft_http_get)->UseRealTime();
  add("async/asio/http_get", bm_asio_http_get)->UseRealTime();
}

}  // namespace weft_bench
#else
namespace weft_bench {
void register_async_http() {}
}  // namespace weft_bench
#endif
