// Must not compile, with one error naming the fix: a std::span is trivially
// copyable, but its bytes are an address into this process.
#include <weft/serialize.hpp>
#include <span>
#include <vector>
int main() {
  auto bytes = weft::serialize(std::vector<int>{1, 2});
  return static_cast<int>(weft::deserialize<std::span<int>>(bytes).size());
}
