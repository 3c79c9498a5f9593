// Must not compile: the serializer of std::vector recurses into its elements.
#include <weft/process_pool.hpp>
#include <string_view>
#include <vector>
static int count(std::vector<std::string_view> words) { return static_cast<int>(words.size()); }
int main() {
  weft::process_pool pool(1);
  return pool.submit(count, std::vector<std::string_view>{"a", "b"}).get();
}
