// Must not compile, with one error naming the field's type and the fix: a C
// array field in a struct that travels field by field (it was the generic
// "serializer<T> is not specialized", naming neither).
#include <weft/process_pool.hpp>
#include <string>
struct histogram {
  std::string name;
  int counts[4];
};
int total(histogram h) { return h.counts[0] + h.counts[1] + h.counts[2] + h.counts[3]; }
int main() {
  weft::process_pool pool(1);
  return pool.submit(total, histogram{"a", {1, 2, 3, 4}}).get();
}
