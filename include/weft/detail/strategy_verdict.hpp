// weft — MIT licence. See LICENSE.
//
// <weft/detail/strategy_verdict.hpp> — internal: the verdict of a strategy
// comparison (weft::comparison in <weft/compare.hpp>, and weft-bench, which
// prints its table through it). Not API.
//
// The verdict must not flip between two runs on the same machine (DESIGN
// "Benchmarks"), so it names a strategy only when the run separates it:
//   - only strategies a user can pick are candidates (serial, threads,
//     processes, mpi); reference rows (std_async) are shown, never chosen;
//   - a run that got clearly fewer cores than its workers asked for (the
//     machine is busy) is inconclusive: its ratios say more about the other
//     programs than about the strategies;
//   - a strategy is clearly faster than another when their ranges do not
//     overlap and its median leads by at least min_lead (10%); a range is
//     min..max of the rounds, without the one round farthest from the
//     median when there are at least 5 (one descheduled round does not
//     decide);
//   - serial wins when every parallel candidate is clearly slower; a
//     parallel candidate wins when it is clearly faster than serial, and of
//     the candidates within the noise of the fastest the simplest (first in
//     the rows' order: threads before processes before mpi) is named, so
//     two runs that differ only by noise name the same one;
//   - anything else is "verdict: inconclusive — <why, what to do>".
#pragma once

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace weft::detail {

// A lead smaller than this fraction of the slower median is noise, however
// tight the ranges: tight ranges of two equal strategies still differ by a few %.
inline constexpr double min_lead = 0.10;
// A run that got less than this fraction of the cores its workers wanted is busy.
inline constexpr double busy_fraction = 0.75;

// One strategy's timed rounds (seconds), as the verdict sees them.
struct strategy_samples {
  std::string name;
  std::size_t workers = 1;
  bool reference = false;  // shown for comparison, never the verdict (std_async)
  std::vector<double> seconds;
};

// Median and range of a strategy's rounds; the range leaves out the round
// farthest from the median when there are at least 5.
struct robust_range {
  double median = 0, low = 0, high = 0;
};

inline double median_of(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  const std::size_t n = s.size();
  if (n == 0) return 0;
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

inline robust_range range_of(std::vector<double> s) {
  robust_range r;
  if (s.empty()) return r;
  r.median = median_of(s);
  std::sort(s.begin(), s.end());
  if (s.size() >= 5) {  // drop the one outlier: the end farther from the median
    if (r.median - s.front() > s.back() - r.median) s.erase(s.begin());
    else s.pop_back();
  }
  r.low = s.front();
  r.high = s.back();
  return r;
}

// a is clearly faster than b: the ranges are apart and the lead is at least min_lead.
inline bool clearly_faster(const robust_range& a, const robust_range& b) {
  return a.high < b.low && b.median - a.median >= min_lead * b.median;
}

enum class verdict_kind { winner, inconclusive };

struct strategy_verdict {
  verdict_kind kind = verdict_kind::inconclusive;
  std::string winner;  // empty when inconclusive
  std::string line;    // the whole "verdict: ..." line, without a newline
};

inline std::string format_ratio(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2fx", x);
  return b;
}

// rows: serial first, then the other strategies in order of preference.
// cores_obtained: CPU seconds / wall seconds of the threads rounds when the
// job is CPU-bound (0: unknown); cores_wanted: the threads row's workers,
// at most the usable cores.
inline strategy_verdict decide_verdict(const std::vector<strategy_samples>& rows, double cores_obtained,
                                       double cores_wanted) {
  std::vector<const strategy_samples*> picks;
  for (const auto& r : rows)
    if (!r.reference && !r.seconds.empty()) picks.push_back(&r);
  if (picks.empty() || picks.front()->name != "serial")
    return {verdict_kind::inconclusive, "", "verdict: inconclusive — no serial rounds to compare with"};
  if (cores_obtained > 0 && cores_wanted > 0 && cores_obtained < busy_fraction * cores_wanted) {
    char b[320];
    std::snprintf(b, sizeof b,
                  "verdict: inconclusive — the machine is busy: the threads rounds got %.1f of %.0f cores; "
                  "close other programs (see top) and run again",
                  cores_obtained, cores_wanted);
    return {verdict_kind::inconclusive, "", b};
  }
  std::vector<robust_range> ranges;
  for (const auto* r : picks) ranges.push_back(range_of(r->seconds));
  std::size_t fastest = 0;
  for (std::size_t i = 1; i < picks.size(); ++i)
    if (ranges[i].median < ranges[fastest].median) fastest = i;
  const double serial_median = ranges[0].median;
  auto speedup = [&](std::size_t i) { return serial_median / ranges[i].median; };

  if (fastest == 0) {
    for (std::size_t i = 1; i < picks.size(); ++i)
      if (!clearly_faster(ranges[0], ranges[i]))
        return {verdict_kind::inconclusive, "",
                "verdict: inconclusive — " + picks[i]->name + " ran " + format_ratio(speedup(i)) +
                    " serial, within the noise of serial; run again with more rounds, or give each task more work"};
    return {verdict_kind::winner, "serial",
            "verdict: serial — every parallel strategy was clearly slower; the tasks are too small to share"};
  }
  if (!clearly_faster(ranges[fastest], ranges[0]))
    return {verdict_kind::inconclusive, "",
            "verdict: inconclusive — " + picks[fastest]->name + " ran " + format_ratio(speedup(fastest)) +
                " serial, a lead within the noise (less than " + std::to_string(int(min_lead * 100)) +
                "% or overlapping rounds); run again with more rounds or on a quieter machine"};
  // The simplest candidate the run cannot separate from the fastest.
  std::size_t chosen = fastest;
  for (std::size_t i = 1; i < fastest; ++i)
    if (!clearly_faster(ranges[fastest], ranges[i]) && clearly_faster(ranges[i], ranges[0])) {
      chosen = i;
      break;
    }
  std::string tied;
  for (std::size_t i = 1; i < picks.size(); ++i)
    if (i != chosen && !clearly_faster(ranges[chosen], ranges[i]) && !clearly_faster(ranges[i], ranges[chosen]))
      tied += (tied.empty() ? "" : ", ") + picks[i]->name + " " + format_ratio(speedup(i));
  std::string line = "verdict: " + picks[chosen]->name + " — " + format_ratio(speedup(chosen)) + " serial with " +
                     std::to_string(picks[chosen]->workers) + " workers, a lead larger than the noise";
  if (!tied.empty()) line += "; " + tied + " within the noise of it (the simpler strategy is named)";
  return {verdict_kind::winner, picks[chosen]->name, line};
}

}  // namespace weft::detail
