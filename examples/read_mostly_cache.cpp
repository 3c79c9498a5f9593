// A read-mostly cache: many readers look values up under a shared lock, the
// rare miss takes the write lock to fill the entry. synchronized<> makes it
// impossible to touch the map without holding its rw_lock.
#include <weft/atomic_counter.hpp>  // weft::atomic_counter
#include <weft/rw_lock.hpp>         // weft::synchronized, weft::rw_lock

#include <cstdio>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

using cache_map = std::unordered_map<int, long>;

long expensive_square(int key) { return static_cast<long>(key) * key; }

int main() {
  weft::synchronized<cache_map> cache;
  weft::atomic_counter<> lookups, fills;

  auto lookup = [&](int key) {
    lookups.increment();
    // Fast path: shared lock, many readers at once.
    auto hit = cache.with_rlock([&](const cache_map& m) -> std::optional<long> {
      auto it = m.find(key);
      return it == m.end() ? std::nullopt : std::optional<long>(it->second);
    });
    if (hit) return *hit;
    // Miss: exclusive lock; check again, another thread may have filled it.
    auto writer = cache.wlock();
    auto [it, inserted] = writer->try_emplace(key, 0);
    if (inserted) {
      it->second = expensive_square(key);
      fills.increment();
    }
    return it->second;
  };

  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        int key = (i * 7 + t) % 64;
        if (lookup(key) != expensive_square(key)) std::printf("wrong value!\n");
      }
    });
  for (auto& r : readers) r.join();
  std::printf("lookups: %lld, misses filled: %lld, entries: %zu\n",
              static_cast<long long>(lookups.value()), static_cast<long long>(fills.value()),
              cache.rlock()->size());
}
