// Must not compile, with one error naming the type and the fix: f's result
// (std::set) has no serializer (it was 2 errors: the boundary check's, then
// the chunk result's own).
#include <weft/process_pool.hpp>
#include <set>
#include <vector>
static std::set<int> singleton(int x) { return {x}; }
int main() {
  weft::process_pool pool(1);
  std::vector<int> xs{1, 2, 3};
  for (auto&& s : pool.imap_unordered(singleton, xs)) static_cast<void>(s.size());
}
