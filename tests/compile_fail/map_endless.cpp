// Must not compile: an eager map over a range whose type says it never
// ends (it would walk it forever); the message points to imap.
#include <weft/thread_pool.hpp>

#include "endless.hpp"

int main() {
  weft::thread_pool pool(1);
  return static_cast<int>(pool.map([](int x) { return x; }, endless_ints{}).size());
}
