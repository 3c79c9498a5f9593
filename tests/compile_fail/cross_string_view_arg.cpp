// Must not compile: a std::string_view argument points into this process
// (issue 13: it arrived as "").
#include <weft/process_pool.hpp>
#include <string_view>
static int length(std::string_view s) { return static_cast<int>(s.size()); }
int main() {
  weft::process_pool pool(1);
  return pool.submit(length, std::string_view("abc")).get();
}
