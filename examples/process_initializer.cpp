// A per-worker initializer (Python's Pool(initializer=...)): each worker
// process sets up its state once; tasks then use it. Work is counted in
// shared memory created before the pool, which every worker sees.
#include <weft/process_pool.hpp>   // weft::process_pool, weft::process_pool_options
#include <weft/shared_memory.hpp>  // weft::shared_value

#include <cstdio>
#include <string>
#include <vector>

namespace {
weft::shared_value<int>* initialized = nullptr;  // created before the pool forks
weft::shared_value<int>* processed = nullptr;
std::string greeting;                            // per-process state, set by the initializer

void init_worker() {
  greeting = "hello from an initialized worker";  // e.g. open a connection, load a model
  initialized->fetch_add(1);
}

int work(int x) {
  processed->fetch_add(1);
  return greeting.empty() ? -1 : x * 2;  // -1 would mean: the initializer did not run here
}
}  // namespace

int main() {
  weft::shared_value<int> init_count(0), items(0);
  initialized = &init_count;
  processed = &items;

  weft::process_pool_options options;
  options.workers = 3;
  options.initializer = init_worker;
  std::vector<int> inputs(60);
  for (int i = 0; i < 60; ++i) inputs[i] = i;
  int bad = 0;
  {
    weft::process_pool pool(options);
    for (int r : pool.map(work, inputs, 5)) bad += r < 0;
  }
  std::printf("initializer ran %d times for 3 workers; %d items processed; %d without init\n",
              init_count.load(), items.load(), bad);
}
