// weft — MIT licence. See LICENSE.
// Tests for the verdict of a strategy comparison (detail/strategy_verdict.hpp,
// behind weft::comparison and weft-bench) on recorded samples: a quiet run,
// a busy one, overlapping rounds, one outlier round. Issue 24: three quick
// runs said std_async 1.89x, std_async 1.29x and serial.
#include <weft/detail/strategy_verdict.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using weft::detail::decide_verdict;
using weft::detail::strategy_samples;
using weft::detail::verdict_kind;

namespace {
// Seconds per round, as scripts/bench --quick recorded them on the 2-core VM.
std::vector<strategy_samples> quiet_run() {
  return {{"serial", 1, false, {0.62, 0.61, 0.63, 0.62, 0.60}},
          {"threads", 2, false, {0.32, 0.31, 0.33, 0.32, 0.31}},
          {"processes", 2, false, {0.30, 0.31, 0.33, 0.32, 0.31}},
          {"std_async", 4, true, {0.29, 0.30, 0.31, 0.30, 0.30}}};
}
bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

TEST_CASE("verdict: a quiet run names the simplest strategy the noise cannot separate, never a reference row",
          "[detail][verdict]") {
  auto v = decide_verdict(quiet_run(), 1.97, 2);
  INFO(v.line);
  CHECK(v.kind == verdict_kind::winner);
  CHECK(v.winner == "threads");  // processes' median is lower here, but within the noise of threads
  CHECK(starts_with(v.line, "verdict: threads — 1.9"));
  CHECK(v.line.find("processes") != std::string::npos);
  CHECK(v.line.find("std_async") == std::string::npos);
}

TEST_CASE("verdict: a busy machine is inconclusive and says so", "[detail][verdict]") {
  auto v = decide_verdict(quiet_run(), 1.1, 2);
  INFO(v.line);
  CHECK(v.kind == verdict_kind::inconclusive);
  CHECK(starts_with(v.line, "verdict: inconclusive — the machine is busy"));
  CHECK(v.line.find("1.1 of 2 cores") != std::string::npos);
}

TEST_CASE("verdict: overlapping rounds are inconclusive, not a winner inside the noise", "[detail][verdict]") {
  // The 22 ms job: one descheduling decides the order.
  std::vector<strategy_samples> rows{{"serial", 1, false, {0.022, 0.030, 0.025}},
                                     {"threads", 2, false, {0.012, 0.028, 0.020}},
                                     {"processes", 2, false, {0.015, 0.031, 0.024}},
                                     {"std_async", 4, true, {0.011, 0.013, 0.012}}};
  auto v = decide_verdict(rows, 0, 2);
  INFO(v.line);
  CHECK(v.kind == verdict_kind::inconclusive);
  CHECK(starts_with(v.line, "verdict: inconclusive — threads ran 1.25x serial"));
  CHECK(v.line.find("run again") != std::string::npos);
}

TEST_CASE("verdict: one outlier round does not decide", "[detail][verdict]") {
  std::vector<strategy_samples> rows{{"serial", 1, false, {0.62, 0.61, 1.40, 0.62, 0.60}},
                                     {"threads", 2, false, {0.32, 0.31, 0.33, 0.90, 0.31}},
                                     {"processes", 2, false, {0.33, 0.32, 0.34, 0.33, 0.33}}};
  auto v = decide_verdict(rows, 1.9, 2);
  INFO(v.line);
  CHECK(v.winner == "threads");
}

TEST_CASE("verdict: serial wins only when every parallel strategy is clearly slower", "[detail][verdict]") {
  std::vector<strategy_samples> rows{{"serial", 1, false, {0.10, 0.10, 0.11}},
                                     {"threads", 2, false, {0.20, 0.21, 0.22}},
                                     {"processes", 2, false, {0.30, 0.31, 0.33}}};
  CHECK(decide_verdict(rows, 0, 2).winner == "serial");
  rows[1].seconds = {0.105, 0.10, 0.11};  // threads as fast as serial: not a serial win either
  auto v = decide_verdict(rows, 0, 2);
  CHECK(v.kind == verdict_kind::inconclusive);
}

TEST_CASE("verdict: a clearly faster strategy wins over a simpler one it is clearly ahead of", "[detail][verdict]") {
  std::vector<strategy_samples> rows{{"serial", 1, false, {0.60, 0.61, 0.62}},
                                     {"threads", 2, false, {0.50, 0.51, 0.52}},  // the GIL-like case
                                     {"processes", 2, false, {0.31, 0.32, 0.33}}};
  auto v = decide_verdict(rows, 0, 2);
  INFO(v.line);
  CHECK(v.winner == "processes");
  CHECK(v.line.find("threads") == std::string::npos);  // clearly behind: not "within the noise"
}

TEST_CASE("verdict: a reference row alone ahead of serial is still inconclusive", "[detail][verdict]") {
  std::vector<strategy_samples> rows{{"serial", 1, false, {0.60, 0.61, 0.62}},
                                     {"threads", 2, false, {0.58, 0.63, 0.60}},
                                     {"std_async", 4, true, {0.30, 0.31, 0.32}}};
  auto v = decide_verdict(rows, 0, 2);
  CHECK(v.kind == verdict_kind::inconclusive);
  CHECK(v.line.find("std_async") == std::string::npos);
}
