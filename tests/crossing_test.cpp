// weft — MIT licence. See LICENSE.
// Tests for DESIGN "What crosses a process boundary" as a user meets it:
// aggregates of serializable fields and bool results through every map of
// thread_pool and process_pool (mpi_pool shares process_pool's remote maps).
#include <weft/process_pool.hpp>
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <map>
#include <string>
#include <vector>

namespace {
struct job {  // issue 24: crossed only with a hand-written serializer
  std::string name;
  int size;
  bool operator==(const job&) const = default;
};
struct file_stats {  // the tutorial's file-statistics result
  std::string path;
  long lines;
  std::vector<int> histogram;
  std::map<std::string, job> jobs;
  bool operator==(const file_stats&) const = default;
};

file_stats describe(job j) {
  return {j.name + ".txt", j.size, std::vector<int>(static_cast<std::size_t>(j.size), 1), {{j.name, j}}};
}
bool is_odd(int x) { return x % 2 != 0; }
bool is_big(job j) { return j.size > 2; }

std::vector<job> some_jobs() { return {{"a", 1}, {"bb", 2}, {"ccc", 3}, {"dddd", 4}, {"eeeee", 5}}; }
std::vector<bool> odd_flags(int n) {
  std::vector<bool> out;
  for (int i = 0; i < n; ++i) out.push_back(is_odd(i));
  return out;
}
template <class Range>
std::vector<bool> collect(Range&& r) {
  std::vector<bool> out;
  for (bool& b : r) out.push_back(b);  // bool&: no vector<bool> proxy leaks out
  return out;
}
}  // namespace

TEST_CASE("an aggregate of serializable fields crosses as argument, result and map item", "[crossing]") {
  weft::process_pool pool(2);
  CHECK(pool.submit(describe, job{"x", 3}).get() == describe(job{"x", 3}));
  auto jobs = some_jobs();
  auto described = pool.map(describe, jobs, 2);
  REQUIRE(described.size() == jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) CHECK(described[i] == describe(jobs[i]));
  std::vector<file_stats> streamed;
  for (auto& s : pool.imap(describe, jobs)) streamed.push_back(s);
  CHECK(streamed == described);
}

TEST_CASE("bool results work in map, imap and imap_unordered on a thread_pool", "[crossing]") {
  weft::thread_pool pool(2);
  std::vector<int> xs{0, 1, 2, 3, 4, 5, 6};
  CHECK(pool.map(is_odd, xs) == odd_flags(7));
  CHECK(collect(pool.imap(is_odd, xs)) == odd_flags(7));
  auto unordered = collect(pool.imap_unordered(is_odd, xs));
  CHECK(std::count(unordered.begin(), unordered.end(), true) == 3);
}

TEST_CASE("bool results work in map, imap and imap_unordered on a process_pool", "[crossing][fork]") {
  weft::process_pool pool(2);
  std::vector<int> xs{0, 1, 2, 3, 4, 5, 6};
  CHECK(pool.map(is_odd, xs) == odd_flags(7));
  CHECK(pool.submit(is_odd, 3).get());
  CHECK(collect(pool.imap(is_odd, xs)) == odd_flags(7));
  auto unordered = collect(pool.imap_unordered(is_odd, xs));
  CHECK(std::count(unordered.begin(), unordered.end(), true) == 3);
  CHECK(pool.map(is_big, some_jobs()) == std::vector<bool>{false, false, true, true, true});
}

TEST_CASE("a remote imap keeps 4 chunks per worker in flight by default", "[crossing][detail]") {
  // DESIGN "Cancellation, timeouts and streaming": the remote pipeline already
  // keeps 2 tasks per worker busy, so the window is twice the thread pool's.
  CHECK(weft::detail::default_remote_buffersize(1) == 4);
  CHECK(weft::detail::default_remote_buffersize(3) == 12);
  CHECK(weft::detail::default_remote_buffersize(0) == 4);
}
