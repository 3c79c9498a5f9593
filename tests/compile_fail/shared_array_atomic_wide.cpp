// Must not compile: shared_array::atomic on a type that is not lock-free
// (24 bytes): a per-process lock would tear across processes.
#include <weft/shared_memory.hpp>
struct wide {
  long a, b, c;
};
int main() {
  weft::shared_array<wide> a(4);
  return static_cast<int>(a.atomic(0).load().a);
}
