// Must not compile: a std::span result would point into the worker's memory.
#include <weft/process_pool.hpp>
#include <span>
static const int table[] = {1, 2, 3};
static std::span<const int> view() { return table; }
int main() {
  weft::process_pool pool(1);
  return static_cast<int>(pool.submit(view).get().size());
}
