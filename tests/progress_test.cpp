// weft — MIT licence. See LICENSE.
// Tests for <weft/progress.hpp>: what reaches stderr with and without
// WEFT_PROGRESS, captured by pointing fd 2 at a temporary file.
#include <weft/future.hpp>
#include <weft/progress.hpp>
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>

namespace {
// Runs body() with stderr redirected to a file and returns what it wrote.
template <class Body>
std::string stderr_of(Body body) {
  char path[] = "/tmp/weft-progress-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  int saved = ::dup(2);
  ::dup2(fd, 2);
  body();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(path);
  return text.str();
}
}  // namespace

TEST_CASE("progress draws count and total on stderr under WEFT_PROGRESS=1", "[progress]") {
  ::setenv("WEFT_PROGRESS", "1", 1);
  std::vector<int> items(250, 1);
  long sum = 0;
  std::string out = stderr_of([&] {
    for (int x : weft::progress(items, std::nullopt, "items")) sum += x;
  });
  ::unsetenv("WEFT_PROGRESS");
  CHECK(sum == 250);
  CHECK(out.find("items: ") != std::string::npos);
  CHECK(out.find("250/250") != std::string::npos);
  CHECK(out.find("100%") != std::string::npos);
  CHECK(out.find("eta") != std::string::npos);
  CHECK(out.back() == '\n');  // the line ends with the loop
}

TEST_CASE("progress wraps a single-pass input whose iterator is move-only, without a default constructor",
          "[progress]") {
  ::setenv("WEFT_PROGRESS", "1", 1);
  long sum = 0;
  std::string out = stderr_of([&] {
    for (int x : weft::progress(weft_test::one_pass<int>(0, 100), 100)) sum += x;
  });
  ::unsetenv("WEFT_PROGRESS");
  CHECK(sum == 99 * 100 / 2);
  CHECK(out.find("100/100") != std::string::npos);
}

TEST_CASE("progress prints nothing when stderr is not a terminal and WEFT_PROGRESS is unset",
          "[progress]") {
  ::unsetenv("WEFT_PROGRESS");
  std::vector<int> items(10, 1);
  std::string out = stderr_of([&] {
    for (int x : weft::progress(items)) (void)x;
  });
  CHECK(out.empty());
  ::setenv("WEFT_PROGRESS", "0", 1);
  out = stderr_of([&] {
    for (int x : weft::progress(items)) (void)x;
  });
  ::unsetenv("WEFT_PROGRESS");
  CHECK(out.empty());
}

TEST_CASE("progress wraps as_completed with an explicit total, and an early exit ends the line",
          "[progress]") {
  ::setenv("WEFT_PROGRESS", "1", 1);
  weft::thread_pool pool(2);
  std::vector<weft::future<int>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(pool.submit([i] { return i; }));
  int seen = 0;
  std::string out = stderr_of([&] {
    for (auto& f : weft::progress(weft::as_completed(futures), futures.size(), "tasks")) {
      f.wait();
      ++seen;
    }
    auto view = weft::progress(futures, "early");
    for (auto& f : view) {
      (void)f;
      break;
    }
  });
  ::unsetenv("WEFT_PROGRESS");
  CHECK(seen == 20);
  CHECK(out.find("tasks: ") != std::string::npos);
  CHECK(out.find("20/20") != std::string::npos);
  CHECK(out.find("early: ") != std::string::npos);
  CHECK(out.back() == '\n');
}
#endif
