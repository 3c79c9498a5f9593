// Must not compile: a class with private state and no weft::serializer.
#include <weft/serialize.hpp>
#include <string>
class opaque {
  std::string s_;

 public:
  const std::string& s() const { return s_; }
};
int main() { return static_cast<int>(weft::serialize(opaque{}).size()); }
