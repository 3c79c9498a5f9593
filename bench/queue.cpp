// weft — MIT licence. See LICENSE.
// queue/<impl>/<P>p<C>c — items/s moved from P producers to C consumers
// through a queue of capacity 1024 (moodycamel's BlockingConcurrentQueue has
// no capacity bound; it is measured unbounded, which favours it).
#include <weft/bounded_queue.hpp>

#include "harness.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <tbb/concurrent_queue.h>
#endif
#if defined(WEFT_BENCH_HAVE_MOODYCAMEL)
#include <blockingconcurrentqueue.h>
#endif

namespace weft_bench {
namespace {

constexpr std::size_t capacity = 1024;
constexpr int items_per_run = 1 << 18;

// The textbook baseline: std::deque behind one mutex and two condvars.
class mutex_condvar_queue {
 public:
  void push(int v) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity; });
    items_.push_back(v);
    lock.unlock();
    not_empty_.notify_one();
  }
  int pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    int v = items_.front();
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return v;
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<int> items_;
};

struct weft_impl {
  weft::bounded_queue<int> q{capacity};
  void push(int v) { q.push(v); }
  int pop() { return *q.pop(); }
};
struct mutex_condvar_impl {
  mutex_condvar_queue q;
  void push(int v) { q.push(v); }
  int pop() { return q.pop(); }
};
#if defined(WEFT_BENCH_HAVE_TBB)
struct tbb_impl {
  tbb::concurrent_bounded_queue<int> q;
  tbb_impl() { q.set_capacity(capacity); }
  void push(int v) { q.push(v); }
  int pop() { int v = 0; q.pop(v); return v; }
};
#endif
#if defined(WEFT_BENCH_HAVE_MOODYCAMEL)
struct moodycamel_impl {
  moodycamel::BlockingConcurrentQueue<int> q;
  void push(int v) { q.enqueue(v); }
  int pop() { int v = 0; q.wait_dequeue(v); return v; }
};
#endif

template <class Impl>
void bm_queue(benchmark::State& state, int producers, int consumers) {
  const int per_producer = items_per_run / producers;
  const int per_consumer = items_per_run / consumers;
  for (auto _ : state) {
    Impl impl;
    std::int64_t sink = 0;
    std::mutex sink_mutex;
    run_parallel(producers + consumers, [&](int id) {
      if (id < producers) {
        for (int i = 0; i < per_producer; ++i) impl.push(i);
      } else {
        std::int64_t local = 0;
        for (int i = 0; i < per_consumer; ++i) local += impl.pop();
        std::lock_guard lock(sink_mutex);
        sink += local;
      }
    });
    benchmark::DoNotOptimize(sink);
  }
  state.SetItemsProcessed(state.iterations() * items_per_run);
}

template <class Impl>
void register_impl(const std::string& name) {
  for (auto [p, c] : {std::pair{1, 1}, {2, 2}, {4, 4}}) {
    add("queue/" + name + "/" + std::to_string(p) + "p" + std::to_string(c) + "c",
        [p = p, c = c](benchmark::State& s) { bm_queue<Impl>(s, p, c); });
  }
}

}  // namespace

void register_queue() {
  register_impl<weft_impl>("weft");
  register_impl<mutex_condvar_impl>("mutex_condvar");
#if defined(WEFT_BENCH_HAVE_TBB)
  register_impl<tbb_impl>("tbb");
#endif
#if defined(WEFT_BENCH_HAVE_MOODYCAMEL)
  register_impl<moodycamel_impl>("moodycamel");
#endif
}

}  // namespace weft_bench
