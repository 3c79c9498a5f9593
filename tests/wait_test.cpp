// weft — MIT licence. See LICENSE.
// Tests for the internal waiting layer <weft/detail/wait.hpp>.
#include <weft/detail/wait.hpp>

#include "support.hpp"

using namespace std::chrono_literals;
using weft::detail::parking_word;
using weft::detail::wait_policy;

TEST_CASE("wait_policy: never, forever and deadlines", "[detail]") {
  CHECK(wait_policy::never().expired());
  CHECK_FALSE(wait_policy::never().may_sleep());
  CHECK_FALSE(wait_policy::forever().expired());
  CHECK(wait_policy::for_(-1s).expired());
  CHECK(wait_policy::for_(0s).expired());
  CHECK_FALSE(wait_policy::for_(1h).expired());
  // Huge durations saturate instead of overflowing into the past.
  CHECK_FALSE(wait_policy::for_(std::chrono::hours::max()).expired());
  CHECK_FALSE(wait_policy::for_(std::chrono::nanoseconds::max()).expired());
  CHECK(wait_policy::until(std::chrono::system_clock::now() - 1s).expired());
}

TEST_CASE("parking_word: a sleeping waiter is woken by a change", "[detail]") {
  parking_word<> word;
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    auto v = word.await([](std::uint32_t x) { return x == 3; }, wait_policy::forever());
    THREAD_CHECK(v == 3u);
    done = true;
  });
  word.store_and_wake(1);  // not what it waits for
  weft_test::let_others_run();
  CHECK_FALSE(done.load());
  word.store_and_wake(3);
  waiter.join();
  CHECK(done.load());
  CHECK_THREADS_OK();
}

TEST_CASE("parking_word: timed waits and give_up return nullopt", "[detail]") {
  parking_word<> word;
  CHECK_FALSE(word.await([](std::uint32_t x) { return x == 1; }, wait_policy::for_(10ms)));
  CHECK_FALSE(word.await([](std::uint32_t x) { return x == 1; }, wait_policy::never()));
  CHECK_FALSE(word.await([](std::uint32_t x) { return x == 1; }, [] { return true; },
                         wait_policy::forever()));
  word.store_and_wake(1);
  CHECK(word.await([](std::uint32_t x) { return x == 1; }, wait_policy::never()) == 1u);
}

TEST_CASE("parking_word: wake-ups are never lost under ping-pong", "[detail]") {
  parking_word<> word;
  constexpr std::uint32_t rounds = 20000;
  std::thread odd([&] {
    for (std::uint32_t i = 1; i < rounds; i += 2) {
      word.await([i](std::uint32_t x) { return x == i - 1; }, wait_policy::forever());
      word.store_and_wake(i);
    }
  });
  for (std::uint32_t i = 2; i <= rounds; i += 2) {
    word.await([i](std::uint32_t x) { return x == i - 1; }, wait_policy::forever());
    word.store_and_wake(i);
  }
  odd.join();
  CHECK(word.value.load() == rounds);
}
