// Must not compile, with one error naming the fix: a union cannot be checked
// for addresses (which member is live is not known), so its pointer member
// would cross as a number (the child read its own memory at that address).
#include <weft/process_pool.hpp>
union handle {
  int* pointer;
  long id;
};
struct job {
  handle target;
  int size;
};
static int size_of(job j) { return j.size; }
int main() {
  weft::process_pool pool(1);
  int value = 1;
  return pool.submit(size_of, job{{&value}, 1}).get();
}
