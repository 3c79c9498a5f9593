// weft — MIT licence. See LICENSE.
// weft's headers under libstdc++'s parallel mode (-D_GLIBCXX_PARALLEL
// -fopenmp), where <bits/stl_algo.h> only declares the algorithms that
// <algorithm> defines. A weft header that took the lighter include failed
// to compile (find_if "used but never defined") or to link
// (std::__parallel::sort) in a file that does not include <algorithm>
// itself. Review of issue 24's include-cost changes. A plain program, not a
// Catch2 test: Catch2's header includes <algorithm> and would hide it.
#include <weft/compare.hpp>

#include <cstdio>
#include <vector>

int main() {
  const auto summary = weft::detail::summarize({0.3, 0.1, 0.2});
  weft::thread_pool pool(2);
  const std::vector<int> items{1, 2, 3, 4};
  const bool ok = summary.median == 0.2 && summary.min == 0.1 && summary.max == 0.3 &&
                  pool.map([](int x) { return x * x; }, items) == std::vector<int>{1, 4, 9, 16};
  std::puts(ok ? "parallel mode: ok" : "parallel mode: wrong results");
  return ok ? 0 : 1;
}
