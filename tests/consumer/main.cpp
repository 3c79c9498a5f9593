// A tiny outside program using an installed / vendored weft.
#include <weft/weft.hpp>

#include <cstdio>
#include <thread>

int main() {
  weft::bounded_queue<int> queue(2);
  weft::atomic_counter<> sum;
  std::thread consumer([&] {
    for (int& v : queue.consume()) sum.increment(v);
  });
  for (int i = 1; i <= 3; ++i) queue.push(i);
  queue.close();
  consumer.join();
  weft::synchronized<int> guarded(0);
  guarded.with_wlock([&](int& v) { v = static_cast<int>(sum.value()); });
  std::printf("weft consumer ok: %d\n", *guarded.rlock());
  return *guarded.rlock() == 6 ? 0 : 1;
}
