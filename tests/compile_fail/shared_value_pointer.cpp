// Must not compile, with one error: a pointer in shared memory is an
// address, meaningless in another process.
#include <weft/shared_memory.hpp>
int main() {
  weft::shared_value<const char*> v(nullptr);
  return v.get() == nullptr ? 0 : 1;
}
