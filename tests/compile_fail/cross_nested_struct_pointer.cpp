// Must not compile: the pointer sits one struct deeper; fields are checked recursively.
#include <weft/process_pool.hpp>
struct inner {
  double weight;
  const char* label;
};
struct outer {
  int id;
  inner detail;
};
static int id_of(outer o) { return o.id; }
int main() {
  weft::process_pool pool(1);
  return pool.submit(id_of, outer{1, {2.0, "x"}}).get();
}
