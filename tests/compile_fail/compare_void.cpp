// Must not compile, with one error naming the fix: the strategies are compared on f's results.
#include <weft/compare.hpp>
#include <vector>
int main() {
  const std::vector<int> xs{1, 2, 3};
  weft::compare_strategies([](int) {}, xs);
}
