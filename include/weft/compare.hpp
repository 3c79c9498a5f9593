// weft — MIT licence. See LICENSE.
//
// <weft/compare.hpp> — times your own function serially, on a thread_pool
// and on a process_pool, and says which strategy wins by more than the
// noise: the table scripts/bench prints, for f instead of the seed's job.
// Python has no single counterpart; it is what people do by hand with
// timeit around map(), ThreadPoolExecutor.map and ProcessPoolExecutor.map.
// POSIX only (it forks a process_pool).
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#if !defined(__unix__) && !defined(__APPLE__)
#error "<weft/compare.hpp> needs POSIX processes (Linux, macOS); it is not available on this platform"
#endif

#include <weft/detail/time_summary.hpp>
#include <weft/process_pool.hpp>
#include <weft/thread_pool.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft {

// How compare_strategies runs.
struct compare_options {
  std::size_t repeats = 5;                              // timed rounds; each runs every strategy once
  std::size_t workers = default_workers(workload::cpu);  // for both pools
  std::size_t chunksize = 0;                            // items per task; 0: each pool's map() default
};

// One strategy's times over the rounds (wall clock of one whole pass over
// the inputs) and its speedup over serial.
struct strategy_row {
  std::string name;  // "serial", "threads" or "processes"
  std::size_t workers = 1;
  std::chrono::duration<double> median{}, min{}, max{};
  double speedup = 1.0;  // serial median / this median
};

// The result of compare_strategies: rows in the order serial, threads,
// processes. Thread-safety: a value type; const members may run
// concurrently. Cost: print() formats a few lines; the rest is O(1).
class comparison {
 public:
  comparison(std::vector<strategy_row> rows, std::size_t repeats, bool results_agree)
      : rows_(std::move(rows)), repeats_(repeats), results_agree_(results_agree) {}

  const std::vector<strategy_row>& rows() const noexcept { return rows_; }
  std::size_t repeats() const noexcept { return repeats_; }
  // Whether threads and processes returned what serial returned (true when
  // the results cannot be compared with ==).
  bool results_agree() const noexcept { return results_agree_; }

  // The fastest strategy (by median) when its lead over serial is larger
  // than the spread (max - min) of both rows; otherwise "serial": with that
  // much noise, parallelism has not shown it pays.
  std::string best() const;
  // Whether the min..max ranges of two rows overlap: the machine was too
  // noisy to tell those two strategies apart.
  bool noisy() const;

  // Prints the table (median, min-max, speedup, efficiency per row), a noise
  // warning when noisy(), and a last line starting with "verdict:".
  void print(std::ostream& out) const;

 private:
  const strategy_row& serial() const { return rows_.front(); }
  const strategy_row& fastest() const;
  static double spread_of(const strategy_row& r) { return (r.max - r.min).count(); }
  static bool overlap(const strategy_row& a, const strategy_row& b) { return a.min <= b.max && b.min <= a.max; }

  std::vector<strategy_row> rows_;
  std::size_t repeats_;
  bool results_agree_;
};

// Runs f over `inputs` serially, on a thread_pool and on a process_pool of
// options.workers each, in one untimed warm-up round and then
// options.repeats interleaved rounds (the order rotates every round), so
// drift hits every strategy alike. Both pools are built once, before any
// timing. f must be process-safe: a function pointer or captureless lambda
// whose arguments and result cross a process boundary (weft::serializer).
// Blocks. Throws std::invalid_argument for empty inputs, repeats == 0 or
// workers == 0; rethrows what f or the pools throw.
template <class F, std::ranges::forward_range Range>
comparison compare_strategies(F f, const Range& inputs, compare_options options = {});

// ---- implementation ----

inline const strategy_row& comparison::fastest() const {
  return *std::min_element(rows_.begin(), rows_.end(),
                           [](const strategy_row& a, const strategy_row& b) { return a.median < b.median; });
}

inline std::string comparison::best() const {
  const strategy_row& f = fastest();
  if (&f == &serial()) return f.name;
  const double lead = (serial().median - f.median).count();
  return lead > std::max(spread_of(f), spread_of(serial())) ? f.name : serial().name;
}

inline bool comparison::noisy() const {
  for (std::size_t i = 0; i < rows_.size(); ++i)
    for (std::size_t j = i + 1; j < rows_.size(); ++j)
      if (overlap(rows_[i], rows_[j])) return true;
  return false;
}

inline void comparison::print(std::ostream& out) const {
  char line[256];
  std::snprintf(line, sizeof line, "  %-12s%8s%11s%19s%9s%12s\n", "strategy", "workers", "median", "min-max",
                "speedup", "efficiency");
  out << line;
  bool over_ideal = false;
  for (const auto& r : rows_) {
    const double efficiency = r.speedup / static_cast<double>(r.workers);
    const bool flag = efficiency > 1.0;
    over_ideal = over_ideal || flag;
    char range[48];
    std::snprintf(range, sizeof range, "%.1f-%.1f ms", r.min.count() * 1e3, r.max.count() * 1e3);
    std::snprintf(line, sizeof line, "  %-12s%8zu%8.1f ms%19s%8.2fx%11.0f%%%s\n", r.name.c_str(), r.workers,
                  r.median.count() * 1e3, range, r.speedup, efficiency * 100, flag ? " (noise)" : "");
    out << line;
  }
  std::snprintf(line, sizeof line, "  (%zu interleaved rounds; speedup = serial median / row median)\n", repeats_);
  out << line;
  if (over_ideal)
    out << "  note: efficiency above 100% is noise (a slow serial round, or a core another program freed),"
           " not real\n";
  if (!results_agree_)
    out << "  warning: a parallel strategy returned different results than serial; f is not process-safe"
           " (does it read state set after the pool started?)\n";
  std::string pairs;
  for (std::size_t i = 0; i < rows_.size(); ++i)
    for (std::size_t j = i + 1; j < rows_.size(); ++j)
      if (overlap(rows_[i], rows_[j])) pairs += (pairs.empty() ? "" : ", ") + rows_[i].name + "/" + rows_[j].name;
  if (!pairs.empty())
    out << "  warning: min-max ranges overlap (" << pairs
        << "): too noisy to separate those; close other programs, or use more repeats\n";
  const std::string winner = best();
  const strategy_row& f = fastest();
  if (winner != "serial") {
    std::string tied;  // other parallel rows the run cannot separate from the winner
    for (const auto& r : rows_)
      if (&r != &f && &r != &serial() && overlap(r, f)) tied += (tied.empty() ? "" : ", ") + r.name;
    if (!tied.empty()) tied = "; " + tied + " within the noise of it";
    std::snprintf(line, sizeof line, "verdict: %s — %.2fx serial with %zu workers, a lead larger than the spread%s\n",
                  winner.c_str(), f.speedup, f.workers, tied.c_str());
  } else if (&f == &serial()) {
    std::snprintf(line, sizeof line, "verdict: serial — no parallel strategy was faster\n");
  } else {
    std::snprintf(line, sizeof line,
                  "verdict: serial — %s looked %.2fx faster, but its lead is within the noise\n", f.name.c_str(),
                  f.speedup);
  }
  out << line;
}

template <class F, std::ranges::forward_range Range>
comparison compare_strategies(F f, const Range& inputs, compare_options options) {
  using R = std::invoke_result_t<F&, std::ranges::range_reference_t<const Range>>;
  static_assert(!std::is_void_v<R>, "weft::compare_strategies: f returns void; return a value (e.g. a checksum)");
  if (std::ranges::begin(inputs) == std::ranges::end(inputs))
    throw std::invalid_argument("weft::compare_strategies: inputs is empty");
  if (options.repeats == 0) throw std::invalid_argument("weft::compare_strategies: repeats is 0");
  if (options.workers == 0) throw std::invalid_argument("weft::compare_strategies: workers is 0");

  // The process pool forks first, while this thread is the only one.
  process_pool processes(options.workers);
  thread_pool threads(options.workers);

  using clock = std::chrono::steady_clock;
  std::vector<R> reference;
  bool agree = true;
  auto check = [&](std::vector<R>&& got) {
    if constexpr (std::equality_comparable<R>) {
      if (reference.empty()) reference = std::move(got);
      else if (got != reference) agree = false;
    }
  };
  auto run = [&](int strategy) {
    if (strategy == 0) {
      std::vector<R> out;
      for (auto&& x : inputs) out.push_back(f(x));
      return out;
    }
    if (strategy == 1) return threads.map(f, inputs, options.chunksize);
    return processes.map(f, inputs, options.chunksize);
  };
  std::vector<double> seconds[3];
  for (std::size_t round = 0; round <= options.repeats; ++round) {  // round 0: untimed warm-up
    for (int k = 0; k < 3; ++k) {
      const int strategy = static_cast<int>((round + static_cast<std::size_t>(k)) % 3);
      const auto start = clock::now();
      std::vector<R> got = run(strategy);
      const double took = std::chrono::duration<double>(clock::now() - start).count();
      if (round > 0) seconds[strategy].push_back(took);
      check(std::move(got));
    }
  }

  auto row = [](std::string name, std::size_t workers, std::vector<double>& times) {
    const detail::time_summary t = detail::summarize(std::move(times));
    using seconds_t = std::chrono::duration<double>;
    return strategy_row{std::move(name), workers, seconds_t(t.median), seconds_t(t.min), seconds_t(t.max)};
  };
  std::vector<strategy_row> rows;
  rows.push_back(row("serial", 1, seconds[0]));
  rows.push_back(row("threads", threads.size(), seconds[1]));
  rows.push_back(row("processes", processes.size(), seconds[2]));
  for (auto& r : rows) r.speedup = rows.front().median / r.median;
  return comparison(std::move(rows), options.repeats, agree);
}

}  // namespace weft
