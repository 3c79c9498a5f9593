// Must not compile: a shared_value of a type std::atomic_ref cannot make
// lock-free (24 bytes). libatomic would guard it with a lock private to each
// process, and reads in one process would tear against writes in another.
#include <weft/shared_memory.hpp>
struct wide {
  long a, b, c;
};
int main() {
  weft::shared_value<wide> v(wide{1, 2, 3});
  v.store(wide{4, 5, 6});
  return static_cast<int>(v.load().a);
}
