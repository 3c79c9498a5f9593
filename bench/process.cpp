// weft — MIT licence. See LICENSE.
// process/weft/roundtrip — submit + get of a trivial task on a process_pool;
// process/weft/roundtrip_batch — submit 5000 trivial tasks, then get each,
// on 2 workers (issue 27's shape; Python's twin in bench/python_pool.py);
// process/weft/roundtrip_1MiB — the same with a 1 MiB argument and result,
// beside process/pipe/roundtrip_1MiB: the same bytes echoed by a forked
// child over two plain pipes, the floor for the ratio;
// process/weft/map_chunked — map over 100k ints with chunksize 256;
// process/weft/imap_unordered — the same items and chunks through the lazy,
// bounded imap_unordered (the streaming form's cost next to map_chunked);
// process/weft/shared_array vs process/weft/by_value — workers sum an 8 MB
// array through shared memory, or receive the same vector serialized;
// cpu/processes — the tutorial's CPU-bound job on default_workers(cpu) processes.
// Pools are built once per benchmark, outside the timed loop.
#include <weft/process_pool.hpp>
#include <weft/shared_memory.hpp>

#include "harness.hpp"
#include "workload.hpp"

#include <array>
#include <numeric>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace weft_bench {
namespace {

constexpr std::size_t big_doubles = (8u << 20) / sizeof(double);  // 8 MB

int identity(int x) { return x; }
std::uint64_t cpu_job(std::uint64_t n) { return cpu_task(n); }
double sum_vector(std::vector<double> v) { return std::accumulate(v.begin(), v.end(), 0.0); }

constexpr std::size_t mebibyte = std::size_t{1} << 20;
std::vector<char> echo_bytes(std::vector<char> v) { return v; }

weft::shared_array<double>* big_array = nullptr;  // created before the pool forks
double sum_shared(int part) {
  const std::size_t per = big_doubles / 4, from = static_cast<std::size_t>(part) * per;
  double s = 0;
  for (std::size_t i = from; i < from + per; ++i) s += (*big_array)[i];
  return s;
}

void bm_roundtrip(benchmark::State& state) {
  weft::process_pool pool(1);
  int i = 0;
  for (auto _ : state) {
    if (pool.submit(identity, i).get() != i) state.SkipWithError("wrong result");
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_roundtrip_batch(benchmark::State& state) {
  constexpr int batch = 5000;
  weft::process_pool pool(2);
  std::vector<weft::future<int>> futures;
  futures.reserve(batch);
  for (auto _ : state) {
    futures.clear();
    for (int i = 0; i < batch; ++i) futures.push_back(pool.submit(identity, i));
    for (int i = 0; i < batch; ++i)
      if (futures[static_cast<std::size_t>(i)].get() != i) state.SkipWithError("wrong result");
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void bm_roundtrip_1MiB(benchmark::State& state) {
  weft::process_pool pool(1);
  const std::vector<char> payload(mebibyte, 'x');
  for (auto _ : state) {
    if (pool.submit(echo_bytes, payload).get().size() != mebibyte) state.SkipWithError("wrong result");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * mebibyte));
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::read(fd, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// The baseline: a child reads 1 MiB from one pipe and writes it back on
// another; no framing, no serialization, no dispatcher.
void bm_pipe_roundtrip_1MiB(benchmark::State& state) {
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return state.SkipWithError("pipe failed");
  pid_t child = ::fork();
  if (child == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    std::vector<char> buffer(mebibyte);
    while (read_all(to_child[0], buffer.data(), mebibyte) && write_all(from_child[1], buffer.data(), mebibyte)) {
    }
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  std::vector<char> out(mebibyte, 'x'), back(mebibyte);
  for (auto _ : state) {
    if (!write_all(to_child[1], out.data(), mebibyte) || !read_all(from_child[0], back.data(), mebibyte))
      state.SkipWithError("echo failed");
  }
  ::close(to_child[1]);
  ::close(from_child[0]);
  ::waitpid(child, nullptr, 0);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * mebibyte));
}

constexpr std::size_t chunked_items = 100000, chunked_chunk = 256;
std::vector<int> chunked_input() {
  std::vector<int> items(chunked_items);
  std::iota(items.begin(), items.end(), 0);
  return items;
}
int twice(int x) { return x * 2; }

void bm_map_chunked(benchmark::State& state) {
  weft::process_pool pool(weft::default_workers(weft::workload::cpu));
  const std::vector<int> items = chunked_input();
  for (auto _ : state) {
    auto out = pool.map(twice, items, chunked_chunk);
    if (out.back() != 2 * 99999) state.SkipWithError("wrong result");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items.size()));
}

void bm_imap_unordered(benchmark::State& state) {
  weft::process_pool pool(weft::default_workers(weft::workload::cpu));
  const std::vector<int> items = chunked_input();
  constexpr std::int64_t expected = 2 * (std::int64_t{chunked_items} * (chunked_items - 1) / 2);
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (int v : pool.imap_unordered(twice, items, weft::map_options{.chunksize = chunked_chunk})) sum += v;
    if (sum != expected) state.SkipWithError("wrong result");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items.size()));
}

void bm_cpu_processes(benchmark::State& state) {
  weft::process_pool pool(weft::default_workers(weft::workload::cpu));
  std::array<std::uint64_t, cpu_tasks> sizes;
  sizes.fill(cpu_task_size);
  static const std::uint64_t expected = cpu_tasks * cpu_task(cpu_task_size);
  for (auto _ : state) {
    auto sums = pool.map(cpu_job, sizes, 1);
    if (std::accumulate(sums.begin(), sums.end(), std::uint64_t{0}) != expected) state.SkipWithError("wrong sum");
  }
  state.SetItemsProcessed(state.iterations() * cpu_tasks);
  state.counters["workers"] = static_cast<double>(pool.size());
}

void bm_shared_array(benchmark::State& state) {
  weft::shared_array<double> data(big_doubles, 1.0);
  big_array = &data;
  {
    weft::process_pool pool(weft::default_workers(weft::workload::cpu));
    std::vector<int> parts{0, 1, 2, 3};
    for (auto _ : state) {
      auto sums = pool.map(sum_shared, parts, 1);
      if (std::accumulate(sums.begin(), sums.end(), 0.0) != static_cast<double>(big_doubles / 4 * 4))
        state.SkipWithError("wrong sum");
    }
  }
  big_array = nullptr;
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(big_doubles * sizeof(double)));
}

void bm_by_value(benchmark::State& state) {
  weft::process_pool pool(weft::default_workers(weft::workload::cpu));
  std::vector<double> data(big_doubles, 1.0);
  for (auto _ : state) {
    // The same 8 MB, in four quarters sent to the workers.
    std::vector<weft::future<double>> parts;
    for (int p = 0; p < 4; ++p)
      parts.push_back(pool.submit(sum_vector, std::vector<double>(data.begin() + p * (big_doubles / 4),
                                                                  data.begin() + (p + 1) * (big_doubles / 4))));
    double total = 0;
    for (auto& f : parts) total += f.get();
    if (total != static_cast<double>(big_doubles / 4 * 4)) state.SkipWithError("wrong sum");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(big_doubles * sizeof(double)));
}

}  // namespace

void register_process() {
  add("process/weft/roundtrip", bm_roundtrip)->Unit(benchmark::kMicrosecond);
  add("process/weft/roundtrip_batch", bm_roundtrip_batch);
  add("process/weft/roundtrip_1MiB", bm_roundtrip_1MiB)->Unit(benchmark::kMicrosecond);
  add("process/pipe/roundtrip_1MiB", bm_pipe_roundtrip_1MiB)->Unit(benchmark::kMicrosecond);
  add("process/weft/map_chunked", bm_map_chunked);
  add("process/weft/imap_unordered", bm_imap_unordered);
  add("process/weft/shared_array", bm_shared_array);
  add("process/weft/by_value", bm_by_value);
  add("cpu/processes", bm_cpu_processes);
}

}  // namespace weft_bench
