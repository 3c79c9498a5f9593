// Must not compile, with one error: a trivially copyable struct holding a
// pointer is still an address (the field's type is named).
#include <weft/shared_queue.hpp>
struct message {
  int size;
  const char* text;
};
int main() {
  weft::shared_queue<message> q(4);
  return static_cast<int>(q.capacity());
}
