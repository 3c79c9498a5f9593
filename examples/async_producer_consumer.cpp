// asyncio.Queue producer/consumer with coroutines: 2 producers and 3
// consumers on one event loop share a weft::bounded_queue of capacity 10.
// co_await async_push waits (without a thread) while the queue is full,
// async_pop while it is empty; task_done() + co_await async_join() tell the
// main task when every item has been handled (asyncio.Queue.join()), and
// close() ends the consumers' loops: async_pop returns nullopt once the
// queue is closed and drained (Python before 3.13 cancels them instead).
// The same queue also serves threads (push/pop) and other loops at once.
// Twin: bench/python/async_producer_consumer.py.
#include <weft/bounded_queue.hpp>  // weft::bounded_queue (async_push, async_pop, async_join)
#include <weft/task.hpp>           // weft::task, weft::run, weft::spawn, weft::gather, weft::sleep_for

#include <cstdio>
#include <vector>

struct totals {
  long consumed = 0;  // loop thread only: the coroutines run one at a time
  long sum = 0;
};

// Producer p pushes p, p + 2, p + 4, ... below 1000. Parameters live in the
// frame (no lambda captures: see the README's pitfall).
weft::task<void> produce(weft::bounded_queue<int>* queue, int p) {
  for (int i = p; i < 1000; i += 2) co_await queue->async_push(i);  // suspends while full
}

// Takes items until the queue is closed and drained; returns how many.
weft::task<long> consume(weft::bounded_queue<int>* queue, totals* t) {
  long mine = 0;
  while (auto item = co_await queue->async_pop()) {  // suspends while empty
    t->sum += *item;
    ++t->consumed;
    ++mine;
    co_await weft::sleep_for(std::chrono::milliseconds(0));  // "process" it; lets the others run
    queue->task_done();
  }
  co_return mine;
}

weft::task<int> main_task() {
  weft::bounded_queue<int> queue(10);  // asyncio.Queue(maxsize=10)
  totals t;
  std::vector<weft::future<long>> consumers;
  for (int c = 0; c < 3; ++c) consumers.push_back(weft::spawn(consume(&queue, &t)));  // create_task

  co_await weft::gather(produce(&queue, 0), produce(&queue, 1));  // both producers, concurrently
  co_await queue.async_join();  // every pushed item was marked done
  const bool all_done = t.consumed == 1000;
  queue.close();  // wakes the idle consumers: their async_pop returns nullopt
  std::vector<long> per_consumer = co_await weft::gather(std::move(consumers));
  std::printf("consumed %ld items, sum %ld\n", t.consumed, t.sum);
  std::printf("join returned with every item done; %zu consumers stopped\n", all_done ? per_consumer.size() : 0);
  co_return 0;
}

int main() { return weft::run(main_task()); }
