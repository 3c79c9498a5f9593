// Must not compile, with one error naming the fix: a struct with an
// anonymous union (its live member unknown, and no structured binding can
// name its fields) cannot be checked for addresses (helper-31: it gave
// three errors from inside weft).
#include <weft/process_pool.hpp>
struct message {
  int kind;
  union {
    int* pointer;
    long id;
  };
};
static int kind_of(message m) { return m.kind; }
int main() {
  weft::process_pool pool(1);
  message m{};
  m.kind = 1;
  return pool.submit(kind_of, m).get();
}
