// Must not compile: a captured pointer is an address in this process only.
#include <weft/process_pool.hpp>
int main() {
  weft::process_pool pool(1);
  int value = 10;
  const int* p = &value;
  return pool.submit([p] { return *p; }).get();
}
