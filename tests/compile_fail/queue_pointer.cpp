// Must not compile, with one error: a pointer in a shared_queue is an
// address, meaningless in the process that pops it.
#include <weft/shared_queue.hpp>
int main() {
  weft::shared_queue<int*> q(4);
  int x = 0;
  q.push(&x);
  return 0;
}
