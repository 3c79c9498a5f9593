// Must not compile, with one error naming the fix: a move-only field in the
// middle (std::unique_ptr takes neither probe, so the count stopped short of
// it and the structured binding failed inside weft: "only 1 name provided").
#include <weft/process_pool.hpp>
#include <memory>
#include <string>
struct owned {
  int id;
  std::unique_ptr<int> data;
  std::string name;
};
int id_of(owned o) { return o.id; }
int main() {
  weft::process_pool pool(1);
  return pool.submit(id_of, owned{1, nullptr, "x"}).get();
}
