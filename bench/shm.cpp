// weft — MIT licence. See LICENSE.
// shm/queue/<P>p<C>c — items/s through a weft::shared_queue<int> of capacity
// 1024 between P producer and C consumer *processes* (forked per iteration;
// compare with queue/weft/<P>p<C>c between threads). shm/pipe/1p1c — the
// same items through a pipe, one write() and one read() per item.
#include <weft/shared_queue.hpp>

#include "harness.hpp"

#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace weft_bench {
namespace {

constexpr int items_per_run = 1 << 18;

template <class Body>
pid_t fork_child(Body body) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  return pid;
}
bool all_ok(const std::vector<pid_t>& pids) {
  bool ok = true;
  for (pid_t p : pids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return ok;
}

void bm_shared_queue(benchmark::State& state, int producers, int consumers) {
  for (auto _ : state) {
    weft::shared_queue<int> q(1024);
    weft::shared_value<long> sum(0);
    std::vector<pid_t> pids;
    for (int c = 0; c < consumers; ++c)
      pids.push_back(fork_child([&] {
        long local = 0;
        for (int i = 0; i < items_per_run / consumers; ++i) local += *q.pop();
        sum.fetch_add(local);
        return 0;
      }));
    for (int p = 0; p < producers; ++p)
      pids.push_back(fork_child([&] {
        for (int i = 0; i < items_per_run / producers; ++i) q.push(1);
        return 0;
      }));
    if (!all_ok(pids) || sum.load() != items_per_run) state.SkipWithError("lost items");
  }
  state.SetItemsProcessed(state.iterations() * items_per_run);
}

void bm_pipe(benchmark::State& state) {
  for (auto _ : state) {
    int fds[2];
    if (::pipe(fds) != 0) {
      state.SkipWithError("pipe failed");
      break;
    }
    weft::shared_value<long> sum(0);
    std::vector<pid_t> pids;
    pids.push_back(fork_child([&] {
      ::close(fds[1]);
      long local = 0;
      int v = 0;
      for (int i = 0; i < items_per_run; ++i) {
        if (::read(fds[0], &v, sizeof v) != sizeof v) return 1;
        local += v;
      }
      sum.fetch_add(local);
      return 0;
    }));
    pids.push_back(fork_child([&] {
      ::close(fds[0]);
      int one = 1;
      for (int i = 0; i < items_per_run; ++i)
        if (::write(fds[1], &one, sizeof one) != sizeof one) return 1;
      return 0;
    }));
    ::close(fds[0]);
    ::close(fds[1]);
    if (!all_ok(pids) || sum.load() != items_per_run) state.SkipWithError("lost items");
  }
  state.SetItemsProcessed(state.iterations() * items_per_run);
}

}  // namespace

void register_shm() {
  for (auto [p, c] : {std::pair{1, 1}, {2, 2}})
    add("shm/queue/" + std::to_string(p) + "p" + std::to_string(c) + "c",
        [p = p, c = c](benchmark::State& s) { bm_shared_queue(s, p, c); });
  add("shm/pipe/1p1c", bm_pipe);
}

}  // namespace weft_bench
