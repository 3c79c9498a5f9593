// Which strategy pays for *your* function? weft::compare_strategies runs it
// serially, on a thread_pool and on a process_pool in interleaved rounds and
// prints the table scripts/bench prints, ending in a verdict: line.
#include <weft/compare.hpp>  // weft::compare_strategies, weft::compare_options

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

// Your function: here, count the primes below n by trial division. It must
// be process-safe (a plain function or a captureless lambda; arguments and
// result serializable) because one of the strategies runs it in processes.
int primes_below(int n) {
  int count = 0;
  for (int k = 2; k < n; ++k) {
    bool prime = true;
    for (int d = 2; d * d <= k && prime; ++d) prime = k % d != 0;
    count += prime;
  }
  return count;
}

int main() {
  const std::vector<int> inputs(8, 60'000);  // eight equal pieces of work

  weft::compare_options options;  // repeats = 5, workers = usable cores
  weft::comparison result = weft::compare_strategies(primes_below, inputs, options);

  result.print(std::cout);
  std::cout << "best strategy for primes_below: " << result.best() << "\n";
  std::cout << "all strategies returned the same answers: " << (result.results_agree() ? "yes" : "NO") << "\n";
  return result.results_agree() ? 0 : 1;
}
