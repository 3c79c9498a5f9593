// Must not compile: a process pool's map over a transformed range that
// never ends (the transform's sentinel is its own type).
#include <weft/process_pool.hpp>

#include <ranges>

#include "endless.hpp"

int twice(int x) { return 2 * x; }

int main() {
  weft::process_pool pool(1);
  return static_cast<int>(pool.map(twice, endless_ints{} | std::views::transform(twice)).size());
}
