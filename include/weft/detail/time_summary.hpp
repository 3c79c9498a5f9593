// weft — MIT licence. See LICENSE.
//
// <weft/detail/time_summary.hpp> — internal: median, min and max of a set
// of timings, for compare_strategies. Not API.
#pragma once

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <cstddef>
#include <vector>

namespace weft::detail {

struct time_summary {
  double median = 0, min = 0, max = 0;  // seconds
};

// Precondition: `seconds` is not empty.
inline time_summary summarize(std::vector<double> seconds) {
  std::sort(seconds.begin(), seconds.end());
  const std::size_t n = seconds.size();
  const double median = n % 2 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2;
  return {median, seconds.front(), seconds.back()};
}

}  // namespace weft::detail
