// Producer/consumer with a bounded queue: 2 producers, 3 consumers, capacity
// 100. close() ends the consumers' loops (no sentinel values), and
// task_done()/join() tell the main thread when every item has been handled —
// Python's queue.Queue(maxsize=100) with q.task_done() and q.join().
#include <weft/atomic_counter.hpp>  // weft::atomic_counter
#include <weft/bounded_queue.hpp>   // weft::bounded_queue

#include <cstdio>
#include <thread>
#include <vector>

int main() {
  weft::bounded_queue<int> queue(100);
  weft::atomic_counter<> consumed, sum;

  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c)
    consumers.emplace_back([&] {
      // Ends when the queue is closed and drained.
      for (int& item : queue.consume()) {
        sum.increment(item);
        consumed.increment();
        queue.task_done();
      }
    });

  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p)
    producers.emplace_back([&queue, p] {
      for (int i = p; i < 1000; i += 2) queue.push(i);  // blocks while full
    });
  for (auto& t : producers) t.join();

  queue.join();   // every pushed item has been marked done
  queue.close();  // wake the consumers; they leave their loops
  for (auto& t : consumers) t.join();
  std::printf("consumed %lld items, sum %lld\n", static_cast<long long>(consumed.value()),
              static_cast<long long>(sum.value()));
}
