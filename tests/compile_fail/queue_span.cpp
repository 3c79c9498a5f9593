// Must not compile, with one error: a std::span in a shared_queue points
// into the pushing process.
#include <weft/shared_queue.hpp>
#include <span>
int main() {
  weft::shared_queue<std::span<int>> q(4);
  return static_cast<int>(q.capacity());
}
