// Must not compile, with one error naming the offending field's type
// (std::set, as submit names it) and the fix, not only the struct's.
#include <weft/serialize.hpp>
#include <set>
#include <string>
struct tally {
  std::string name;
  std::set<int> seen;
};
int main() { return static_cast<int>(weft::serialize(tally{}).size()); }
