// weft — MIT licence. See LICENSE.
// rwlock/<impl>/<read %> — lock operations/s on all cores, each thread
// reading (shared) or updating (exclusive) a small guarded table;
// rwlock/<impl>/<read %>/threads:<2 x cores> — the same with twice as many
// threads as cores, where a waiter that spins instead of sleeping steals the
// core of the thread it waits for.
#include <weft/rw_lock.hpp>

#include "harness.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <tbb/spin_rw_mutex.h>
#endif

namespace weft_bench {
namespace {

constexpr int ops_per_thread = 1 << 16;

template <class Lock>
void bm_rwlock(benchmark::State& state, int read_percent, int threads) {
  Lock lock;
  std::array<std::int64_t, 8> table{};  // guarded by lock
  for (auto _ : state) {
    run_parallel(threads, [&](int id) {
      std::int64_t sum = 0;
      unsigned x = static_cast<unsigned>(id) * 2654435761u + 1;
      for (int i = 0; i < ops_per_thread; ++i) {
        x = x * 1664525u + 1013904223u;  // LCG: spreads writes over the run
        if (static_cast<int>((x >> 8) % 100) < read_percent) {
          std::shared_lock guard(lock);
          for (auto v : table) sum += v;
        } else {
          std::unique_lock guard(lock);
          for (auto& v : table) ++v;
        }
      }
      benchmark::DoNotOptimize(sum);
    });
  }
  state.SetItemsProcessed(state.iterations() * threads * ops_per_thread);
}

template <class Lock>
void register_impl(const std::string& name) {
  const int cores = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  for (int read_percent : {50, 90, 99}) {
    const std::string base = "rwlock/" + name + "/" + std::to_string(read_percent);
    add(base, [read_percent, cores](benchmark::State& s) { bm_rwlock<Lock>(s, read_percent, cores); });
    add(base + "/threads:" + std::to_string(2 * cores), [read_percent, cores](benchmark::State& s) {
      bm_rwlock<Lock>(s, read_percent, 2 * cores);
    });
  }
}

#if defined(WEFT_BENCH_HAVE_TBB)
// tbb::spin_rw_mutex meets the standard lockable requirements except for the
// shared names; adapt them so std::shared_lock works.
struct tbb_spin_rw {
  tbb::spin_rw_mutex m;
  void lock() { m.lock(); }
  void unlock() { m.unlock(); }
  void lock_shared() { m.lock_shared(); }
  void unlock_shared() { m.unlock_shared(); }
};
#endif

}  // namespace

void register_rwlock() {
  register_impl<weft::rw_lock>("weft");
  register_impl<std::shared_mutex>("std_shared_mutex");
#if defined(WEFT_BENCH_HAVE_TBB)
  register_impl<tbb_spin_rw>("tbb_spin_rw");
#endif
}

}  // namespace weft_bench
