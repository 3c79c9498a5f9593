// Must not compile, with one error naming the fix: map needs f's results.
#include <weft/thread_pool.hpp>
#include <vector>
int main() {
  weft::thread_pool pool(2);
  std::vector<int> xs{1, 2, 3};
  pool.map([](int) {}, xs);
}
