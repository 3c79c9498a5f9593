// Must not compile, with one readable error: shared_array::atomic on an
// 8-byte struct aligned to 4, below what std::atomic_ref needs (8).
#include <weft/shared_memory.hpp>
struct two_ints {
  int a, b;
};
int main() {
  weft::shared_array<two_ints> a(4);
  return a.atomic(0).load().a;
}
