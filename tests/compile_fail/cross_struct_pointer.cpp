// Must not compile: a trivially copyable struct holding a pointer is still an address.
#include <weft/process_pool.hpp>
struct buffer {
  int size;
  const int* data;
};
static int first(buffer b) { return b.size > 0 ? b.data[0] : 0; }
int main() {
  weft::process_pool pool(1);
  int value = 1;
  return pool.submit(first, buffer{1, &value}).get();
}
