// Must not compile, with one error: a pointer in shared memory is an
// address, meaningless in another process.
#include <weft/shared_memory.hpp>
int main() {
  weft::shared_array<int*> a(4);
  return static_cast<int>(a.size());
}
