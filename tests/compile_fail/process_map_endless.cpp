// Must not compile: a process pool's map over a range that never ends;
// the message points to imap.
#include <weft/process_pool.hpp>

#include "endless.hpp"

int twice(int x) { return 2 * x; }

int main() {
  weft::process_pool pool(1);
  return static_cast<int>(pool.map(twice, endless_ints{}).size());
}
