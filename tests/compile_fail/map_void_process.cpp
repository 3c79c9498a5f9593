// Must not compile, with one error naming the fix: map needs f's results.
#include <weft/process_pool.hpp>
#include <vector>
static void consume(int) {}
int main() {
  weft::process_pool pool(2);
  std::vector<int> xs{1, 2, 3};
  pool.map(consume, xs);
}
