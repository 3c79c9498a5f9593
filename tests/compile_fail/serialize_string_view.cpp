// Must not compile, with one error naming the fix: a std::string_view is
// trivially copyable, but its bytes are an address into this process.
#include <weft/serialize.hpp>
#include <string_view>
int main() { return static_cast<int>(weft::serialize(std::string_view("abc")).size()); }
