// Must not compile, with one error naming the fix: a reference field that is
// not the first one (the fields were once listed as none, and the reference
// crossed as the struct's bytes).
#include <weft/process_pool.hpp>
struct window {
  int size;
  const int& limit;
};
int size_of(window w) { return w.size; }
int main() {
  static const int limit = 3;
  weft::process_pool pool(1);
  return pool.submit(size_of, window{1, limit}).get();
}
