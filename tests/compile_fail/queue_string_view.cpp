// Must not compile, with one error: a std::string_view in a shared_queue
// points into the pushing process.
#include <weft/shared_queue.hpp>
#include <string_view>
int main() {
  weft::shared_queue<std::string_view> q(4);
  return static_cast<int>(q.capacity());
}
