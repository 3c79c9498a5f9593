// weft — MIT licence. See LICENSE.
//
// Tests for <weft/asio.hpp>: Asio operations awaited with weft::use_task,
// on the io_context the task's loop drives itself (no extra thread).
// Every socket is on 127.0.0.1.
#include <weft/asio.hpp>

#include "support.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <string>
#include <thread>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using weft::task;

namespace {

tcp::acceptor local_acceptor() {
  return tcp::acceptor(weft::io_context(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

task<void> echo_once(tcp::acceptor& acceptor) {
  tcp::socket s = co_await acceptor.async_accept(weft::use_task);
  std::array<char, 64> buf{};
  std::size_t n = co_await s.async_read_some(asio::buffer(buf), weft::use_task);
  co_await asio::async_write(s, asio::buffer(buf.data(), n), weft::use_task);
}

}  // namespace

// Connects to a one-shot echo server on this loop and returns what came back.
task<std::string> echo_round_trip(std::string text) {
  tcp::acceptor acceptor = local_acceptor();
  auto server = weft::spawn(echo_once(acceptor));
  tcp::socket client(weft::io_context());
  co_await client.async_connect(acceptor.local_endpoint(), weft::use_task);
  co_await asio::async_write(client, asio::buffer(text), weft::use_task);
  std::string back(text.size(), '\0');
  co_await asio::async_read(client, asio::buffer(back), weft::use_task);
  co_await server;
  co_return back;
}

TEST_CASE("use_task awaits Asio socket operations on the loop's own io_context", "[asio]") {
  weft_test::finishes("echo", [&] { CHECK(weft::run(echo_round_trip("ping")) == "ping"); });
}

TEST_CASE("an Asio error arrives as boost::system::system_error", "[asio]") {
  auto body = []() -> task<bool> {
    tcp::acceptor acceptor = local_acceptor();
    tcp::endpoint closed = acceptor.local_endpoint();
    acceptor.close();  // nobody listens there any more
    tcp::socket client(weft::io_context());
    try {
      co_await client.async_connect(closed, weft::use_task);
    } catch (const boost::system::system_error& e) {
      co_return e.code() == asio::error::connection_refused;
    }
    co_return false;
  };
  CHECK(weft::run(body()));
}

TEST_CASE("Asio timers, loop timers and other threads' completions interleave on one loop", "[asio]") {
  auto body = []() -> task<bool> {
    asio::steady_timer timer(weft::io_context(), 20ms);
    auto asio_wait = [](asio::steady_timer& t) -> task<int> {
      co_await t.async_wait(weft::use_task);
      co_return 2;
    };
    auto loop_wait = []() -> task<int> {
      co_await weft::sleep_for(5ms);
      co_return 1;
    };
    std::thread::id loop_thread = std::this_thread::get_id();
    auto [a, b] = co_await weft::gather(asio_wait(timer), loop_wait());
    co_return a == 2 && b == 1 && std::this_thread::get_id() == loop_thread;
  };
  CHECK(weft::run(body()));
}

TEST_CASE("wait_for abandons a read that never completes; the socket's destruction ends it", "[asio]") {
  auto body = []() -> task<bool> {
    tcp::acceptor acceptor = local_acceptor();
    auto reader = [](tcp::endpoint where) -> task<int> {
      tcp::socket s(weft::io_context());
      co_await s.async_connect(where, weft::use_task);
      std::array<char, 1> b{};
      co_await s.async_read_some(asio::buffer(b), weft::use_task);  // the peer never writes
      co_return 1;
    };
    auto accepted = [](tcp::acceptor& a) -> task<tcp::socket> { co_return co_await a.async_accept(weft::use_task); };
    auto read = weft::spawn(weft::wait_for(reader(acceptor.local_endpoint()), 30ms));
    tcp::socket peer = co_await accepted(acceptor);  // held open: the read stays pending
    try {
      co_await read;
    } catch (const weft::timeout&) {
      co_return true;
    }
    co_return false;
  };
  weft_test::finishes("abandoned read", [&] { CHECK(weft::run(body())); });
}

TEST_CASE("two loops on two threads each drive their own io_context", "[asio]") {
  std::string r1, r2;
  weft_test::finishes("two loops", [&] {
    std::thread other([&] { r2 = weft::run(echo_round_trip("ab")); });
    r1 = weft::run(echo_round_trip("cd"));
    other.join();
  });
  CHECK(r1 == "cd");
  CHECK(r2 == "ab");
}

TEST_CASE("io_context outside a loop throws logic_error", "[asio]") {
  CHECK_THROWS_AS(weft::io_context(), std::logic_error);
}
