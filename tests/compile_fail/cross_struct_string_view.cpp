// Must not compile: a trivially copyable struct holding a std::string_view
// would arrive pointing into the parent's memory.
#include <weft/process_pool.hpp>
#include <string_view>
struct labelled {
  int id;
  std::string_view label;
};
static int id_of(labelled l) { return l.id; }
int main() {
  weft::process_pool pool(1);
  return pool.submit(id_of, labelled{1, "x"}).get();
}
