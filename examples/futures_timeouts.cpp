// The Python tutorial's asyncio orchestration, on a thread_pool: a task with a timeout
// (asyncio.wait_for), a gather with an overall timeout (asyncio.gather inside
// wait_for), and a race whose losers are cancelled (FIRST_COMPLETED).
#include <weft/future.hpp>       // weft::future, weft::wait, weft::when_all, weft::when_any
#include <weft/thread_pool.hpp>  // weft::thread_pool

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// Stands in for a network call that takes `delay`.
std::string fetch(std::string name, std::chrono::milliseconds delay) {
  std::this_thread::sleep_for(delay);
  return name;
}

int main() {
  weft::thread_pool pool(4);

  // 1. One task with a timeout: stop waiting after 50 ms.
  auto slow = pool.submit(fetch, "slow", 300ms);
  if (slow.wait_for(50ms) == std::future_status::timeout)
    std::printf("task: timed out after 50 ms (it keeps running; cancel() only stops unstarted tasks)\n");

  // 2. A gather with an overall timeout: results of those that made it.
  std::vector<weft::future<std::string>> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(pool.submit(fetch, "item" + std::to_string(i), 10ms * (i + 1)));
  batch.push_back(pool.submit(fetch, "straggler", 500ms));
  auto [done, not_done] = weft::wait(batch, weft::return_when::all_completed, 200ms);
  std::printf("gather: %zu done, %zu not done within 200 ms\n", done.size(), not_done.size());
  for (auto i : not_done) batch[i].cancel();  // unstarted ones never run

  // 3. A race: the first answer wins, the losers are cancelled.
  weft::thread_pool racers(1);  // one worker: the losers wait in the queue
  std::vector<weft::future<std::string>> mirrors;
  mirrors.push_back(racers.submit(fetch, "mirror-a", 20ms));
  mirrors.push_back(racers.submit(fetch, "mirror-b", 20ms));
  mirrors.push_back(racers.submit(fetch, "mirror-c", 20ms));
  std::size_t winner = weft::when_any(mirrors).get();
  // A thread cannot be interrupted: losers that already started finish and
  // are ignored; those still queued are cancelled and never run.
  int cancelled = 0, ignored = 0;
  for (std::size_t i = 0; i < mirrors.size(); ++i)
    if (i != winner) (mirrors[i].cancel() ? cancelled : ignored)++;
  std::printf("race: %s won; losers: %d cancelled, %d already running\n",
              mirrors[winner].get().c_str(), cancelled, ignored);

  // when_all: all results in order, or the first exception.
  std::vector<weft::future<int>> squares;
  for (int i = 1; i <= 4; ++i) squares.push_back(pool.submit([i] { return i * i; }));
  int sum = 0;
  for (int v : weft::when_all(std::move(squares)).get()) sum += v;
  std::printf("when_all: sum of squares 1..4 = %d\n", sum);
}
