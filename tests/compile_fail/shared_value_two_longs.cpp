// Must not compile, with one readable error: a shared_value of a 16-byte
// struct. std::atomic_ref cannot make it lock-free here (with or without
// -mcx16), so it would take a lock private to each process and tear.
#include <weft/shared_memory.hpp>
struct two_longs {
  long a, b;
};
int main() {
  weft::shared_value<two_longs> v(two_longs{1, 2});
  v.store(two_longs{3, 4});
  return static_cast<int>(v.load().a);
}
