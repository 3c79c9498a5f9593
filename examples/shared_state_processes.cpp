// The Python tutorial's multiprocessing.Queue + Manager case in C++: worker processes
// report progress through a shared_queue while the parent reads it, and add
// to a shared total in a shared_value. Both live in shared memory created
// before the pool, so every worker process sees the same objects.
#include <weft/process_pool.hpp>   // weft::process_pool
#include <weft/shared_memory.hpp>  // weft::shared_value
#include <weft/shared_queue.hpp>   // weft::shared_queue

#include <cstdio>
#include <set>
#include <unistd.h>
#include <vector>

struct report {  // trivially copyable: it crosses processes as raw bytes
  int task;
  int pid;
  long result;
};

// Shared memory made before the pool starts is mapped, at the same address,
// in every worker the pool forks. A pointer cannot cross the process
// boundary as an argument (weft refuses it at compile time), so the task
// reaches the shared objects through globals set before the pool is built.
weft::shared_queue<report>* reports_queue = nullptr;
weft::shared_value<long>* shared_total = nullptr;

long work(int task) {
  long result = 0;
  for (int i = 0; i <= task * 1000; ++i) result += i % 7;
  shared_total->fetch_add(result);  // atomic across processes
  reports_queue->push(report{task, static_cast<int>(::getpid()), result});
  return result;
}

int main() {
  constexpr int tasks = 12;
  weft::shared_queue<report> reports(4);  // small on purpose: workers block until the parent reads
  weft::shared_value<long> total(0);
  reports_queue = &reports;
  shared_total = &total;

  weft::process_pool pool(3);
  std::vector<weft::future<long>> futures;
  for (int t = 0; t < tasks; ++t) futures.push_back(pool.submit(work, t));

  long from_reports = 0;
  std::set<int> pids;
  for (int received = 0; received < tasks; ++received) {
    report r = *reports.pop();  // blocks until some worker pushes
    from_reports += r.result;
    pids.insert(r.pid);
  }
  long from_futures = 0;
  for (auto& f : futures) from_futures += f.get();

  std::printf("received %d reports from %zu worker process(es), none from the parent: %s\n", tasks,
              pids.size(), pids.count(static_cast<int>(::getpid())) ? "no" : "yes");
  std::printf("shared total %ld, sum of reports %ld, sum of results %ld: %s\n", total.load(), from_reports,
              from_futures, total.load() == from_reports && from_reports == from_futures ? "consistent" : "MISMATCH");
}
