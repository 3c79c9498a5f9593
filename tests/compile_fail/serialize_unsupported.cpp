// Must not compile: a type without a weft::serializer.
#include <weft/serialize.hpp>
#include <string>
struct opaque { std::string s; };
int main() { return static_cast<int>(weft::serialize(opaque{}).size()); }
