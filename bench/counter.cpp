// weft — MIT licence. See LICENSE.
// counter/<impl>/<threads> — increments/s from 1, 2 and 4 threads.
#include <weft/atomic_counter.hpp>

#include "harness.hpp"

#include <mutex>
#include <string>

namespace weft_bench {
namespace {

constexpr int adds_per_thread = 1 << 20;

struct weft_atomic {
  weft::atomic_counter<> c;
  void add() { c.increment(); }
  std::int64_t value() { return c.value(); }
};
struct weft_sharded {
  weft::sharded_counter<> c;
  void add() { c.add(); }
  std::int64_t value() { return c.value(); }
};
struct mutex_counter {
  std::mutex m;
  std::int64_t n = 0;  // guarded by m
  void add() { std::lock_guard lock(m); ++n; }
  std::int64_t value() { std::lock_guard lock(m); return n; }
};

template <class Counter>
void bm_counter(benchmark::State& state, int threads) {
  for (auto _ : state) {
    Counter counter;
    run_parallel(threads, [&](int) {
      for (int i = 0; i < adds_per_thread; ++i) counter.add();
    });
    if (counter.value() != std::int64_t{threads} * adds_per_thread) state.SkipWithError("lost increments");
  }
  state.SetItemsProcessed(state.iterations() * threads * adds_per_thread);
}

template <class Counter>
void register_impl(const std::string& name) {
  for (int threads : {1, 2, 4})
    add("counter/" + name + "/" + std::to_string(threads),
        [threads](benchmark::State& s) { bm_counter<Counter>(s, threads); });
}

}  // namespace

void register_counter() {
  register_impl<weft_atomic>("weft_atomic");
  register_impl<weft_sharded>("weft_sharded");
  register_impl<mutex_counter>("mutex");
}

}  // namespace weft_bench
