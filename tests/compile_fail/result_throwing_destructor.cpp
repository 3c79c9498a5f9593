// weft — MIT licence. See LICENSE.
// Must not compile: a task result whose destructor may throw. The state
// destroys results after it completed; a throw there would complete it a
// second time (or escape a noexcept path).
#include <weft/thread_pool.hpp>

struct loud {
  ~loud() noexcept(false) {}
};

int main() {
  weft::thread_pool pool(1);
  auto f = pool.submit([] { return loud{}; });
  f.get();
}
