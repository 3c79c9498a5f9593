// weft — MIT licence. See LICENSE.
//
// <weft/progress.hpp> — weft::progress(range [, total] [, label]): a
// one-line progress bar on stderr around any input range (the results of
// imap, as_completed, a vector), like Python's tqdm.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace weft {

namespace detail {

// Whether progress bars are drawn: WEFT_PROGRESS=1 forces them, =0 turns
// them off; otherwise only when stderr is a terminal.
inline bool progress_enabled() noexcept {
  if (const char* env = std::getenv("WEFT_PROGRESS"); env != nullptr && env[0] != '\0')
    return env[0] != '0';
#if defined(_WIN32)
  return _isatty(2) != 0;
#else
  return ::isatty(STDERR_FILENO) != 0;
#endif
}

// Formats seconds as m:ss or h:mm:ss.
inline std::string clock_text(double seconds) {
  long s = seconds < 0 ? 0 : static_cast<long>(seconds + 0.5);
  char out[32];
  if (s >= 3600)
    std::snprintf(out, sizeof out, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(out, sizeof out, "%ld:%02ld", s / 60, s % 60);
  return out;
}

// The bar's state and drawing; one per progress range.
class progress_meter {
 public:
  using clock = std::chrono::steady_clock;
  progress_meter(std::optional<std::size_t> total, std::string label)
      : total_(total), label_(std::move(label)), enabled_(progress_enabled()) {}
  progress_meter(const progress_meter&) = delete;
  progress_meter& operator=(const progress_meter&) = delete;
  ~progress_meter() { finish(); }

  void start() {
    start_ = last_draw_ = clock::now();
    draw();
  }
  void step() {
    ++count_;
    auto now = clock::now();
    if (now - last_draw_ >= redraw_interval) {
      last_draw_ = now;
      draw();
    }
  }
  // Draws the final state and ends the line (once).
  void finish() {
    if (finished_ || !started()) return;
    finished_ = true;
    draw();
    if (enabled_) std::fputc('\n', stderr);
  }
  bool started() const noexcept { return start_ != clock::time_point{}; }

 private:
  // At most 10 redraws per second.
  static constexpr auto redraw_interval = std::chrono::milliseconds(100);
  static constexpr int bar_width = 24;

  void draw() const {
    if (!enabled_) return;
    const double elapsed = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(count_) / elapsed : 0.0;
    std::string line = "\r";
    if (!label_.empty()) line.append(label_).append(": ");
    char buf[160];
    if (total_ && *total_ > 0) {
      const double fraction = static_cast<double>(count_) / static_cast<double>(*total_);
      const int filled = static_cast<int>(fraction * bar_width + 0.5);
      std::string bar(static_cast<std::size_t>(std::clamp(filled, 0, bar_width)), '#');
      bar.resize(bar_width, '.');
      const double left = rate > 0 ? static_cast<double>(*total_ - std::min(count_, *total_)) / rate : 0.0;
      std::snprintf(buf, sizeof buf, "%zu/%zu [%s] %3.0f%% %.1f/s elapsed %s eta %s", count_, *total_,
                    bar.c_str(), fraction * 100.0, rate, clock_text(elapsed).c_str(), clock_text(left).c_str());
    } else {
      std::snprintf(buf, sizeof buf, "%zu %.1f/s elapsed %s", count_, rate, clock_text(elapsed).c_str());
    }
    line += buf;
    line += "\033[K";  // clear what a longer previous line left
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }

  std::size_t count_ = 0;
  std::optional<std::size_t> total_;
  std::string label_;
  bool enabled_;
  bool finished_ = false;
  clock::time_point start_{};
  clock::time_point last_draw_{};
};

}  // namespace detail

// A range that yields what `Range` yields and draws a progress bar as it is
// consumed (like tqdm). Count, percent, rate, elapsed time and ETA, redrawn
// at most 10 times per second, on stderr, and only when stderr is a terminal
// or WEFT_PROGRESS=1 (WEFT_PROGRESS=0: never). The bar starts at begin(),
// and its line ends when the iteration reaches the end or the range is
// destroyed (a loop left early).
//
// Thread-safety: like the range it wraps; iterate it from one thread.
// Cost: one clock read per element; a redraw is one write to stderr.
// Lifetime: an lvalue range is referenced (it must outlive the loop); an
// rvalue range is moved in.
template <class Range>
class progress_range {
  using base_iterator = std::ranges::iterator_t<Range>;
  using base_sentinel = std::ranges::sentinel_t<Range>;

 public:
  progress_range(Range&& range, std::optional<std::size_t> total, std::string label)
      : range_(std::forward<Range>(range)), meter_(total, std::move(label)) {}

  class iterator {
   public:
    using value_type = std::iter_value_t<base_iterator>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    decltype(auto) operator*() const { return *it_; }
    auto operator->() const
      requires requires(const base_iterator& i) { i.operator->(); }
    {
      return it_.operator->();
    }
    // The wrapped iterator's position in its input, for as_completed.
    std::size_t index() const
      requires requires(const base_iterator& i) { i.index(); }
    {
      return it_.index();
    }
    iterator& operator++() {
      ++it_;
      meter_->step();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const {
      if (it_ != end_) return false;
      meter_->finish();
      return true;
    }

   private:
    friend class progress_range;
    iterator(base_iterator it, base_sentinel end, detail::progress_meter* meter)
        : it_(std::move(it)), end_(std::move(end)), meter_(meter) {}
    base_iterator it_{};
    base_sentinel end_{};
    detail::progress_meter* meter_ = nullptr;
  };

  iterator begin() {
    meter_.start();
    return iterator(std::ranges::begin(range_), std::ranges::end(range_), &meter_);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Range range_;  // a reference for lvalues
  detail::progress_meter meter_;
};

// Wraps `range` in a progress bar; `total` defaults to the range's size when
// it has one (else the bar shows count and rate only).
template <std::ranges::input_range Range>
progress_range<Range> progress(Range&& range, std::optional<std::size_t> total = std::nullopt,
                               std::string label = {}) {
  if (!total) {
    if constexpr (std::ranges::sized_range<Range>) total = static_cast<std::size_t>(std::ranges::size(range));
  }
  return progress_range<Range>(std::forward<Range>(range), total, std::move(label));
}
template <std::ranges::input_range Range>
progress_range<Range> progress(Range&& range, std::string label) {
  return progress(std::forward<Range>(range), std::nullopt, std::move(label));
}

}  // namespace weft
