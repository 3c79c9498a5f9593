// Must not compile: a lambda capturing by reference would read the worker's
// stale copy of `factor` (issue 13: returned 2 instead of 20).
#include <weft/process_pool.hpp>
int main() {
  weft::process_pool pool(1);
  int factor = 10;
  return pool.submit([&factor](int x) { return x * factor; }, 2).get();
}
