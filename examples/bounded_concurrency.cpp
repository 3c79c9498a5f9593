// Many IO-like jobs, at most N in flight (the Python tutorial's asyncio.Semaphore +
// gather): a thread_pool of N workers is the semaphore. Failures are
// collected as values next to the results, so one bad job does not hide
// the others.
#include <weft/future.hpp>       // weft::future, weft::when_all
#include <weft/thread_pool.hpp>  // weft::thread_pool

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using outcome = std::variant<std::string, std::string>;  // index 0: body, index 1: error

int main() {
  constexpr int jobs = 20, limit = 4;
  std::atomic<int> in_flight{0}, peak{0};

  auto fetch = [&](int id) -> std::string {
    int now = ++in_flight;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the "network"
    --in_flight;
    if (id % 7 == 3) throw std::runtime_error("job " + std::to_string(id) + ": timed out");
    return "body of job " + std::to_string(id);
  };

  weft::thread_pool pool(limit);  // at most `limit` jobs run at once
  std::vector<weft::future<outcome>> pending;
  for (int id = 0; id < jobs; ++id)
    pending.push_back(pool.submit([&fetch, id]() -> outcome {
      try {
        return outcome(std::in_place_index<0>, fetch(id));
      } catch (const std::exception& e) {
        return outcome(std::in_place_index<1>, e.what());  // an error as a value
      }
    }));

  int ok = 0, failed = 0;
  for (const outcome& o : weft::when_all(std::move(pending)).get()) (o.index() == 0 ? ok : failed)++;
  std::printf("%d jobs: %d ok, %d failed, at most %d in flight (limit %d)\n", jobs, ok, failed, peak.load(), limit);
}
