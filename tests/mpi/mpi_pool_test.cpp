// weft — MIT licence. See LICENSE.
// Tests for <weft/mpi_pool.hpp>. Label `mpi`; run by ctest under
// `mpiexec -np 3`: rank 0 runs the Catch2 session, ranks 1 and 2 serve.
// Each ctest entry selects test cases by tag, because one job holds one pool
// and the [shutdown] cases end it.
#if defined(WEFT_CATCH2_V3)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#endif
#include "../remote_tasks.hpp"
#include "../support.hpp"

#include <weft/mpi_pool.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

std::optional<weft::mpi_pool> the_pool;  // built in main, on every rank
weft::mpi_pool& pool() { return *the_pool; }

using weft_test::count_words;
using weft_test::older;
using weft_test::person;
using weft_test::square;
using weft_test::throws_range;

long long square_wide(long long x) { return x * x; }
int my_rank() {
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // keeps the workers busy (not a synchronization)
  return x * x;
}
// Holds its worker until the test creates `release_file` (the test job runs
// on one host, so every rank sees the file).
int held_square(std::string release_file, int x) {
  weft_test::eventually([&] { return std::filesystem::exists(release_file); });
  return x * x;
}

}  // namespace

TEST_CASE("values of many types make the round trip", "[general]") {
  CHECK(pool().size() == 2);
  CHECK(pool().submit(square, 12).get() == 144);
  CHECK(pool().submit(count_words, std::vector<std::string>{"a", "b", "a"}).get() ==
        std::map<std::string, int>{{"a", 2}, {"b", 1}});
  CHECK(pool().submit(older, person{"ada", 36}).get() == person{"ada", 37});
  int offset = 5;
  CHECK(pool().submit([](int x, int off) { return x + off; }, 1, offset).get() == 6);
  pool().submit([] {}).get();  // void
}

int tenth_fails(int x) {
  if (x % 10 == 9) throw std::invalid_argument("every tenth item fails");
  return x * x;
}

TEST_CASE("imap and imap_unordered stream over an unbounded input; an exception surfaces at its item",
          "[general]") {
  int i = 0;
  auto results = pool().imap(tenth_fails, weft_test::counting<int>(0), weft::map_options{.chunksize = 8, .buffersize = 4});
  for (auto it = results.begin(); it != results.end() && i < 5000; ++it, ++i) {
    if (i % 10 == 9) {
      CHECK_THROWS_AS(*it, weft::remote_error);
    } else {
      REQUIRE(*it == i * i);
    }
  }
  CHECK(i == 5000);
  long long sum = 0;
  int failures = 0;
  auto unordered = pool().imap_unordered(tenth_fails, weft_test::counting<int>(0, 100));
  for (auto it = unordered.begin(); it != unordered.end(); ++it) {
    try {
      sum += *it;
    } catch (const weft::remote_error& e) {
      CHECK(e.type_name() == "std::invalid_argument");
      ++failures;
    }
  }
  CHECK(failures == 10);
  long long expected = 0;
  for (int x = 0; x < 100; ++x) expected += x % 10 == 9 ? 0 : x * x;
  CHECK(sum == expected);
}

TEST_CASE("tasks run on the worker ranks, never on rank 0", "[general]") {
  std::vector<weft::future<int>> ranks;
  for (int i = 0; i < 40; ++i) ranks.push_back(pool().submit(my_rank));
  std::set<int> seen;
  for (auto& f : ranks) seen.insert(f.get());
  CHECK_FALSE(seen.count(0));
  CHECK(seen.size() >= 1);
  CHECK(*seen.rbegin() <= 2);
}

TEST_CASE("map keeps input order over 100k items for several chunk sizes", "[general]") {
  std::vector<long long> items(100000);
  std::iota(items.begin(), items.end(), -50000LL);
  for (std::size_t chunk : {std::size_t{0}, std::size_t{1000}, std::size_t{256}, std::size_t{99999}}) {
    auto out = pool().map(square_wide, items, chunk);
    REQUIRE(out.size() == items.size());
    bool in_order = true;
    for (std::size_t i = 0; i < items.size(); ++i) in_order = in_order && out[i] == items[i] * items[i];
    CHECK(in_order);
  }
  CHECK(pool().map(square, std::vector<int>{}).empty());
}

TEST_CASE("a task's exception arrives as remote_error with its type and message", "[general]") {
  auto f = pool().submit(throws_range, 1);
  try {
    f.get();
    FAIL("no exception");
  } catch (const weft::remote_error& e) {
    CHECK(e.type_name() == "std::out_of_range");
    CHECK(std::string(e.what()) == "index 7 out of range");
  }
  // The failing chunk is reported after every chunk ran; the pool goes on.
  CHECK_THROWS_AS(pool().map(throws_range, std::vector<int>{1, 2, 3}, 1), weft::remote_error);
  CHECK(pool().submit(square, 3).get() == 9);
}

TEST_CASE("10k small tasks all complete exactly once", "[general]") {
  std::vector<weft::future<int>> futures;
  for (int i = 0; i < 10000; ++i) futures.push_back(pool().submit(square, i % 100));
  long long total = 0, expected = 0;
  for (int i = 0; i < 10000; ++i) expected += (i % 100) * (i % 100);
  for (auto& f : weft::as_completed(futures, weft_test::hang_limit)) total += f.get();
  CHECK(total == expected);
  CHECK(pool().pending() == 0);
}

TEST_CASE("pending() counts the tasks not yet started, as thread_pool's does", "[general]") {
  const auto release = std::filesystem::temp_directory_path() / ("weft_mpi_pending_" + std::to_string(::getpid()));
  std::filesystem::remove(release);
  std::vector<weft::future<int>> futures;
  for (int i = 0; i < 2; ++i) futures.push_back(pool().submit(held_square, release.string(), i));  // one per worker
  for (int i = 2; i < 4; ++i) futures.push_back(pool().submit(square, i));
  // Each worker runs a held task; the other two wait (behind them, or on
  // rank 0). Before the fix pending() counted unfinished tasks: 4.
  CHECK(weft_test::eventually([] { return pool().pending() == 2; }));
  std::ofstream(release) << "go";
  for (int i = 0; i < 4; ++i) CHECK(futures[i].get() == i * i);
  CHECK(pool().pending() == 0);
  std::filesystem::remove(release);
}

TEST_CASE("a second pool in the same job is refused", "[general]") {
  CHECK_THROWS_AS(weft::mpi_pool(), std::logic_error);
}

TEST_CASE("shutdown(cancel_pending) cancels what was not sent; then submit throws", "[shutdown-cancel]") {
  const auto release = std::filesystem::temp_directory_path() / ("weft_mpi_release_" + std::to_string(::getpid()));
  std::filesystem::remove(release);
  std::vector<weft::future<int>> futures;
  for (int i = 0; i < 200; ++i) futures.push_back(pool().submit(held_square, release.string(), i));
  // The workers stay held until shutdown has cancelled what it could
  // (pending(), the tasks not yet started, drops from about 200 to the two
  // waiting behind the held ones only then).
  bool cancelled_while_held = false;
  std::thread releaser([&] {
    cancelled_while_held = weft_test::eventually([] { return pool().pending() <= 2; });
    std::ofstream(release) << "go";  // even after a failure, so that shutdown returns
  });
  pool().shutdown(weft::shutdown_mode::cancel_pending);  // on the thread that built the pool
  releaser.join();
  std::filesystem::remove(release);
  CHECK(cancelled_while_held);
  int ran = 0, cancelled = 0;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(futures[i].ready());  // shutdown returns after every task is settled
    if (futures[i].cancelled()) {
      ++cancelled;
      CHECK_THROWS_AS(futures[i].get(), weft::cancelled);
    } else {
      CHECK(futures[i].get() == i * i);
      ++ran;
    }
  }
  CHECK(ran + cancelled == 200);
  CHECK(cancelled > 0);
  CHECK_THROWS_AS(pool().submit(square, 1), weft::pool_closed);
  pool().shutdown();  // idempotent
}

TEST_CASE("the destructor drains pending work", "[shutdown-drain]") {
  std::vector<weft::future<int>> futures;
  for (int i = 0; i < 50; ++i) futures.push_back(pool().submit(slow_square, i));
  the_pool.reset();
  for (int i = 0; i < 50; ++i) CHECK(futures[i].get() == i * i);
}

int main(int argc, char** argv) {
  the_pool.emplace();  // ranks 1.. serve inside and exit when rank 0 shuts the pool down
  int failed = Catch::Session().run(argc, argv);
  the_pool.reset();
  return failed;
}
