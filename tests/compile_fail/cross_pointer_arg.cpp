// Must not compile, with one error: a raw pointer argument is an address.
#include <weft/process_pool.hpp>
static int first(const int* p) { return *p; }
int main() {
  weft::process_pool pool(1);
  int value = 1;
  return pool.submit(first, &value).get();
}
