// Must not compile: a shared_array of a type holding pointers to private memory.
#include <weft/shared_memory.hpp>
#include <string>
int main() { weft::shared_array<std::string> a(4); return static_cast<int>(a.size()); }
