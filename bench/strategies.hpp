// weft — MIT licence. See LICENSE.
// weft-bench's own strategy comparison (the mode it runs with no arguments):
// the tutorial's CPU-bound job serially, on a thread_pool and on a
// process_pool in interleaved rounds, std::async as a reference row, and
// the table and verdict of <weft/compare.hpp>.
#pragma once

#include <cstddef>
#include <string>

namespace weft_bench {

struct strategy_run {
  bool quick = false;       // fewer, shorter rounds (scripts/bench --quick)
  std::size_t rounds = 0;   // interleaved timed rounds; 0: 5 (quick) or 7
  std::string json_path;    // where the rounds go for scripts/bench; "" for none
};

// Runs the comparison, prints the table and a line starting "verdict:".
// Returns the process exit code.
int run_strategies(const strategy_run& run);

}  // namespace weft_bench
