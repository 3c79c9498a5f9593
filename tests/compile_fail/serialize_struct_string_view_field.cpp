// Must not compile, with one error naming the fix: a struct holding a
// std::string_view is an address, though trivially copyable.
#include <weft/serialize.hpp>
#include <string_view>
#include <vector>
struct label {
  int id;
  std::string_view text;
};
int main() {
  std::vector<std::byte> bytes(64);
  return weft::deserialize<label>(bytes).id;
}
