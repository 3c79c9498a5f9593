// Must not compile: a function pointer as an argument is an address too
// (only the callable f itself travels as a code word).
#include <weft/process_pool.hpp>
static int twice(int x) { return 2 * x; }
static int apply(int (*fn)(int), int x) { return fn(x); }
int main() {
  weft::process_pool pool(1);
  return pool.submit(apply, &twice, 2).get();
}
