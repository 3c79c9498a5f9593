// weft — MIT licence. See LICENSE.
//
// <weft/detail/progress_meter.hpp> — internal: the progress bar's state and drawing, behind
// weft::progress. Not API.
#pragma once

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace weft::detail {

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

}  // namespace weft::detail
