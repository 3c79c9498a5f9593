// Many threads counting: atomic_counter for counts that are read often,
// sharded_counter for write-heavy counts read once at the end.
//
// Why not a plain `int`? `++count` is a load, an add and a store; two threads
// can load the same old value and one increment is lost. The total comes out
// short and differs from run to run (and it is a data race: undefined
// behaviour). That version is not run here for that reason.
#include <weft/atomic_counter.hpp>  // weft::atomic_counter, weft::sharded_counter

#include <cstdio>
#include <thread>
#include <vector>

int main() {
  constexpr int threads = 4, per_thread = 100000;
  weft::atomic_counter<> exact;
  weft::sharded_counter<> fast;

  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        exact.increment();  // one shared cache line: every increment contends
        fast.add();         // per-thread stripes: increments do not contend
      }
    });
  for (auto& w : workers) w.join();

  std::printf("atomic_counter: %lld (expected %d)\n", static_cast<long long>(exact.value()),
              threads * per_thread);
  std::printf("sharded_counter: %lld over %zu stripes\n", static_cast<long long>(fast.value()),
              fast.stripes());
}
