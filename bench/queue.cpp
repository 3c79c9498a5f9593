// weft — MIT licence. See LICENSE.
// queue/<impl>/<P>p<C>c — items/s moved from P producers to C consumers
// through a queue of capacity 1024 (moodycamel's BlockingConcurrentQueue has
// no capacity bound; it is measured unbounded, which favours it).
// atomic_queue's queues never sleep: push() and pop() spin until they can
// go on, which wins while every thread has a core of its own and collapses
// when threads outnumber cores. Two of its variants are measured:
// atomic_queue (AtomicQueue<int, 1024>: ints stored in the slots' atomics,
// one value reserved as 'empty', so the bench pushes v + 1) and
// atomic_queue2 (AtomicQueue2<int, 1024>: any T, a state byte per slot, as
// weft's queue holds any T).
#include <weft/bounded_queue.hpp>

#include "harness.hpp"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <tbb/concurrent_queue.h>
#endif
#if defined(WEFT_BENCH_HAVE_MOODYCAMEL)
#include <blockingconcurrentqueue.h>
#endif
#if defined(WEFT_BENCH_HAVE_ATOMIC_QUEUE)
#include <atomic_queue/atomic_queue.h>
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

#if defined(WEFT_BENCH_HAVE_ATOMIC_QUEUE)
struct atomic_queue_impl {
  // 0 is the 'empty' value (NIL) of AtomicQueue<int>: items travel as v + 1.
  atomic_queue::AtomicQueue<int, capacity> q;
  void push(int v) { q.push(v + 1); }
  int pop() { return q.pop() - 1; }
};
struct atomic_queue2_impl {
  atomic_queue::AtomicQueue2<int, capacity> q;
  void push(int v) { q.push(v); }
  int pop() { return q.pop(); }
};
#endif

template <class Impl>
void bm_queue(benchmark::State& state, int producers, int consumers) {
  const int per_producer = items_per_run / producers;
  const int per_consumer = items_per_run / consumers;
  for (auto _ : state) {
    auto impl_owner = std::make_unique<Impl>();  // atomic_queue's rings are inline: keep them off the stack
    Impl& impl = *impl_owner;
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
  for (auto [p, c] : {std::pair{1, 1}, {2, 2}, {4, 4}, {8, 8}}) {
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
#if defined(WEFT_BENCH_HAVE_ATOMIC_QUEUE)
  register_impl<atomic_queue_impl>("atomic_queue");
  register_impl<atomic_queue2_impl>("atomic_queue2");
#endif
}

}  // namespace weft_bench
