// Must not compile: an eager map over views of a range that never ends.
// filter and transform end in sentinels of their own, yet what they adapt
// never ends, so neither do they (map would walk them forever).
#include <weft/thread_pool.hpp>

#include <ranges>

#include "endless.hpp"

int main() {
  weft::thread_pool pool(1);
  auto halves = endless_ints{} | std::views::filter([](int x) { return x % 2 == 0; }) |
                std::views::transform([](int x) { return x / 2; });
  return static_cast<int>(pool.map([](int x) { return x; }, halves).size());
}
