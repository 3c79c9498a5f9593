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

#include <weft/detail/range_access.hpp>
#include <weft/detail/strategy_verdict.hpp>
#include <weft/detail/time_summary.hpp>
#include <weft/process_pool.hpp>
#include <weft/thread_pool.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <ctime>
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
  // f only computes (no sleeps, no IO): the threads rounds' CPU time over
  // their wall time is then the cores the run got, and a busy machine
  // (clearly fewer cores than workers) makes the verdict inconclusive. When
  // false, that is measured only if the serial rounds kept a core busy.
  bool cpu_bound = false;
};

// One strategy's times over the rounds (wall clock of one whole pass over
// the inputs) and its speedup over serial.
struct strategy_row {
  std::string name;  // "serial", "threads" or "processes" (weft-bench adds "mpi" and "std_async")
  std::size_t workers = 1;
  std::chrono::duration<double> median{}, min{}, max{};
  double speedup = 1.0;                   // serial median / this median
  std::vector<double> seconds{};          // each round's time (empty: only median, min, max are known)
  bool reference = false;                 // shown for comparison, never the verdict (std_async)
};

// The result of compare_strategies: rows in the order serial, threads,
// processes. Thread-safety: a value type; const members may run
// concurrently. Cost: print() formats a few lines; the rest is O(rows).
class comparison {
 public:
  // cores_obtained: CPU time / wall time of the threads rounds when f is
  // CPU-bound, 0 when unknown; a run that got clearly fewer cores than its
  // workers wanted is "busy" (see verdict()).
  comparison(std::vector<strategy_row> rows, std::size_t repeats, bool results_agree, double cores_obtained = 0)
      : rows_(std::move(rows)), repeats_(repeats), results_agree_(results_agree), cores_obtained_(cores_obtained) {}

  const std::vector<strategy_row>& rows() const noexcept { return rows_; }
  std::size_t repeats() const noexcept { return repeats_; }
  // Whether threads and processes returned what serial returned (true when
  // the results cannot be compared with ==).
  bool results_agree() const noexcept { return results_agree_; }

  // The strategy the verdict names (a lead over serial larger than the
  // noise: ranges apart and at least 10%; of strategies within the noise of
  // each other, the simplest); "serial" when the run is inconclusive: with
  // that much noise, parallelism has not shown it pays. Never a reference row.
  std::string best() const;
  // The last line print() writes: "verdict: <strategy> — ..." or
  // "verdict: inconclusive — <why, what to do>" (detail/strategy_verdict.hpp).
  std::string verdict() const;
  // CPU time / wall time the threads rounds got (0: unknown).
  double cores_obtained() const noexcept { return cores_obtained_; }
  // Whether the min..max ranges of two rows overlap: the machine was too
  // noisy to tell those two strategies apart.
  bool noisy() const;

  // Prints the table (median, min-max, speedup, efficiency per row), a noise
  // warning when noisy(), and a last line starting with "verdict:".
  void print(std::ostream& out) const;

 private:
  detail::strategy_verdict decide() const;
  double cores_wanted() const;
  static bool overlap(const strategy_row& a, const strategy_row& b) { return a.min <= b.max && b.min <= a.max; }

  std::vector<strategy_row> rows_;
  std::size_t repeats_;
  bool results_agree_;
  double cores_obtained_;
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
comparison compare_strategies(F f, Range&& inputs, compare_options options = {});

// ---- implementation ----

inline double comparison::cores_wanted() const {
  for (const auto& r : rows_)
    if (r.name == "threads")
      return static_cast<double>(std::min(r.workers, default_workers(workload::cpu)));
  return 0;
}

inline detail::strategy_verdict comparison::decide() const {
  std::vector<detail::strategy_samples> samples;
  for (const auto& r : rows_) {
    std::vector<double> seconds = r.seconds;
    if (seconds.empty()) seconds = {r.min.count(), r.median.count(), r.max.count()};
    samples.push_back({r.name, r.workers, r.reference, std::move(seconds)});
  }
  return detail::decide_verdict(samples, cores_obtained_, cores_wanted());
}

inline std::string comparison::best() const {
  detail::strategy_verdict v = decide();
  return v.kind == detail::verdict_kind::winner ? v.winner : "serial";
}

inline std::string comparison::verdict() const { return decide().line; }

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
    const std::string name = r.reference ? r.name + "*" : r.name;
    std::snprintf(line, sizeof line, "  %-12s%8zu%8.1f ms%19s%8.2fx%11.0f%%%s\n", name.c_str(), r.workers,
                  r.median.count() * 1e3, range, r.speedup, efficiency * 100, flag ? " (noise)" : "");
    out << line;
  }
  std::snprintf(line, sizeof line, "  (%zu interleaved rounds; speedup = serial median / row median)\n", repeats_);
  out << line;
  for (const auto& r : rows_)
    if (r.reference) {
      out << "  * " << r.name << ": a reference row (not a weft strategy you can pick); never the verdict\n";
    }
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
  if (cores_obtained_ > 0) {
    std::snprintf(line, sizeof line, "  cores: the threads rounds got %.1f of %.0f cores (CPU time / wall time)\n",
                  cores_obtained_, cores_wanted());
    out << line;
  }
  out << verdict() << '\n';
}

namespace detail {
// compare_strategies for an f whose results are R (not void).
template <class R, class F, class Inputs>
comparison compare_strategies_of(F& f, Inputs& inputs, compare_options options) {
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
  double cpu_seconds[3] = {0, 0, 0};  // this process's CPU time (all threads) per strategy
  for (std::size_t round = 0; round <= options.repeats; ++round) {  // round 0: untimed warm-up
    for (int k = 0; k < 3; ++k) {
      const int strategy = static_cast<int>((round + static_cast<std::size_t>(k)) % 3);
      const std::clock_t cpu_start = std::clock();
      const auto start = clock::now();
      std::vector<R> got = run(strategy);
      const double took = std::chrono::duration<double>(clock::now() - start).count();
      const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
      if (round > 0) {
        seconds[strategy].push_back(took);
        cpu_seconds[strategy] += cpu;
      }
      check(std::move(got));
    }
  }
  // The cores the threads rounds got, when f is CPU-bound (serial kept one
  // core busy): a busy machine shows as fewer cores than workers.
  auto total = [](const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return t;
  };
  const bool cpu_bound = options.cpu_bound || cpu_seconds[0] >= 0.9 * total(seconds[0]);
  const double cores_obtained = cpu_bound ? cpu_seconds[1] / total(seconds[1]) : 0.0;

  auto row = [](std::string name, std::size_t workers, std::vector<double>& times) {
    const detail::time_summary t = detail::summarize(times);
    using seconds_t = std::chrono::duration<double>;
    return strategy_row{std::move(name), workers, seconds_t(t.median), seconds_t(t.min), seconds_t(t.max), 1.0,
                        times};
  };
  std::vector<strategy_row> rows;
  rows.push_back(row("serial", 1, seconds[0]));
  rows.push_back(row("threads", threads.size(), seconds[1]));
  rows.push_back(row("processes", processes.size(), seconds[2]));
  for (auto& r : rows) r.speedup = rows.front().median / r.median;
  return comparison(std::move(rows), options.repeats, agree, cores_obtained);
}

}  // namespace detail

template <class F, std::ranges::forward_range Range>
comparison compare_strategies(F f, Range&& items, compare_options options) {
  detail::map_input_t<Range> inputs = items;  // read as map reads it
  using R = std::invoke_result_t<F&, std::ranges::range_reference_t<detail::map_input_t<Range>>>;
  static_assert(!std::is_void_v<R>, "weft::compare_strategies: f returns void; return a value (e.g. a checksum)");
  static_assert(!detail::endless_range<Range>,
                "weft::compare_strategies: the range never ends; time a finite part of it (std::views::take)");
  if constexpr (std::is_void_v<R> || detail::endless_range<Range>) {
    return comparison({}, 0, false);  // a static_assert above is the one error
  } else {
    return detail::compare_strategies_of<R>(f, inputs, options);
  }
}

}  // namespace weft
