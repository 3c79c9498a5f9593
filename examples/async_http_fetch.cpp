// The Python tutorial's aiohttp scenario with coroutines: fetch 50 URLs,
// at most 5 in flight (asyncio.Semaphore), each under a per-request
// timeout (asyncio.wait_for); failures come back as values beside the
// bodies (gather(..., return_exceptions=True)). The HTTP server is started
// by the program itself, on 127.0.0.1, on the same loop: /slow/N answers
// after N ms, /missing is a 404, everything else answers at once.
// One thread, no thread pool: every wait is a suspended coroutine.
#include <weft/asio.hpp>  // weft::use_task, weft::io_context
#include <weft/task.hpp>  // weft::task, weft::run, weft::spawn, weft::gather, weft::wait_for, weft::async_semaphore

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// ---- the server: one coroutine per connection, one request each ----
weft::task<void> answer(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> request;
  co_await http::async_read(socket, buffer, request, weft::use_task);
  std::string target(request.target());
  http::response<http::string_body> response{http::status::ok, request.version()};
  if (target.rfind("/slow/", 0) == 0) {
    co_await weft::sleep_for(std::chrono::milliseconds(std::stoi(target.substr(6))));
  } else if (target == "/missing") {
    response.result(http::status::not_found);
  }
  response.body() = "body of " + target;
  response.prepare_payload();
  co_await http::async_write(socket, response, weft::use_task);
}

weft::task<void> serve(tcp::acceptor& acceptor, int requests) {
  for (int i = 0; i < requests; ++i) {
    tcp::socket socket = co_await acceptor.async_accept(weft::use_task);
    (void)weft::spawn(answer(std::move(socket)));
  }
}

// ---- the client ----
struct outcome {
  std::string target;
  std::string body;   // empty on failure
  std::string error;  // empty on success
};

weft::task<std::string> get(tcp::endpoint server, std::string target) {
  tcp::socket socket(weft::io_context());
  co_await socket.async_connect(server, weft::use_task);
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  co_await http::async_write(socket, request, weft::use_task);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  co_await http::async_read(socket, buffer, response, weft::use_task);
  if (response.result() != http::status::ok) throw std::runtime_error("HTTP " + std::to_string(response.result_int()));
  co_return response.body();
}

weft::task<outcome> fetch(tcp::endpoint server, std::string target, weft::async_semaphore& limit) {
  auto permit = co_await limit.acquire();  // at most 5 requests in flight
  try {
    std::string body = co_await weft::wait_for(get(server, target), 500ms);
    co_return outcome{target, std::move(body), ""};
  } catch (const weft::timeout&) {
    co_return outcome{target, "", "timed out"};
  } catch (const std::exception& e) {
    co_return outcome{target, "", e.what()};
  }
}

weft::task<int> crawl() {
  tcp::acceptor acceptor(weft::io_context(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<std::string> targets;
  for (int i = 0; i < 50; ++i) {
    if (i % 10 == 3) targets.push_back("/slow/2000");  // far past the 500 ms timeout
    else if (i == 7) targets.push_back("/missing");
    else if (i % 10 == 5) targets.push_back("/slow/20");  // well within it, even on a loaded machine
    else targets.push_back("/page/" + std::to_string(i));
  }
  auto server = weft::spawn(serve(acceptor, static_cast<int>(targets.size())));

  weft::async_semaphore limit(5);
  std::vector<weft::task<outcome>> requests;
  for (const std::string& t : targets) requests.push_back(fetch(acceptor.local_endpoint(), t, limit));
  std::vector<outcome> results = co_await weft::gather(std::move(requests));

  int ok = 0, timed_out = 0, failed = 0;
  for (const outcome& r : results) {
    if (r.error.empty()) ++ok;
    else if (r.error == "timed out") ++timed_out;
    else ++failed;
  }
  std::printf("fetched %zu urls: %d ok, %d timed out, %d failed\n", results.size(), ok, timed_out, failed);
  for (const outcome& r : results)
    if (!r.error.empty() && r.error != "timed out") std::printf("  %s failed: %s\n", r.target.c_str(), r.error.c_str());
  co_await server;
  co_return 0;
}

int main() { return weft::run(crawl()); }
