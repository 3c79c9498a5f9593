// weft — MIT licence. See LICENSE.
// The strategy comparison weft-bench prints with no arguments (and
// scripts/bench through it). The job is the tutorial's (4 tasks, each
// summing i*i for i < 10M), repeated inside each task so that one
// strategy's pass takes about 0.3-1 s on this machine: a 22 ms pass let one
// descheduling decide the verdict (issue 24).
#include <weft/compare.hpp>

#include "strategies.hpp"
#include "workload.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <vector>

namespace weft_bench {
namespace {

using clock_type = std::chrono::steady_clock;

// One task of the job: cpu_task(10M), `repeats` times (a function pointer: it crosses to processes).
std::uint64_t repeated_task(std::uint64_t repeats) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < repeats; ++i) sum += cpu_task(cpu_task_size);
  return sum;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// How many times each task repeats cpu_task(10M) so that the serial pass
// (cpu_tasks tasks) takes about `target` seconds: after a warm-up pass (the
// first ones run slower while the core clocks up), the fastest of 5.
std::uint64_t size_job(double target) {
  repeated_task(2);
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    const auto start = clock_type::now();
    repeated_task(1);
    best = std::min(best, seconds_since(start));
  }
  const double repeats = target / (cpu_tasks * best);
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(repeats + 0.5));
}

// std::async, one thread per task: a reference row, timed after the
// interleaved rounds (it is nothing a weft user picks).
weft::strategy_row std_async_row(std::uint64_t repeats, std::size_t rounds) {
  std::vector<double> times;
  for (std::size_t r = 0; r <= rounds; ++r) {  // r == 0: warm-up
    const auto start = clock_type::now();
    std::vector<std::future<std::uint64_t>> parts;
    for (int t = 0; t < cpu_tasks; ++t) parts.push_back(std::async(std::launch::async, repeated_task, repeats));
    for (auto& p : parts) p.get();
    if (r > 0) times.push_back(seconds_since(start));
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  weft::strategy_row row;
  row.name = "std_async";
  row.workers = cpu_tasks;
  row.median = std::chrono::duration<double>(weft::detail::median_of(times));
  row.min = std::chrono::duration<double>(sorted.front());
  row.max = std::chrono::duration<double>(sorted.back());
  row.seconds = std::move(times);
  row.reference = true;
  return row;
}

double load_average() {
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

void write_json(const std::string& path, const weft::comparison& c, std::uint64_t repeats, double load) {
  std::ofstream out(path);
  out << "{\"job\": {\"tasks\": " << cpu_tasks << ", \"task_size\": " << cpu_task_size
      << ", \"repeats_per_task\": " << repeats << "},\n \"load_average\": " << load
      << ",\n \"cores_obtained\": " << c.cores_obtained() << ",\n \"rounds\": " << c.repeats() << ",\n \"rows\": [";
  const char* sep = "";
  for (const auto& r : c.rows()) {
    out << sep << "\n  {\"name\": \"" << r.name << "\", \"workers\": " << r.workers
        << ", \"reference\": " << (r.reference ? "true" : "false") << ", \"seconds\": [";
    for (std::size_t i = 0; i < r.seconds.size(); ++i) out << (i ? ", " : "") << r.seconds[i];
    out << "]}";
    sep = ",";
  }
  out << "],\n \"verdict\": \"" << c.verdict() << "\"}\n";
}

}  // namespace

int run_strategies(const strategy_run& run) {
  const std::size_t rounds = run.rounds != 0 ? run.rounds : (run.quick ? 5 : 7);
  const std::size_t cores = weft::default_workers(weft::workload::cpu);
  const double load = load_average();
  std::printf("weft strategy comparison — %zu usable cores", cores);
  if (load >= 0) std::printf(", load average %.2f at start", load);
  std::printf("\n");
  if (load > 0.5 * static_cast<double>(cores))
    std::printf("note: the load average says other programs are busy; expect an inconclusive verdict\n");
  const double target = run.quick ? 0.4 : 0.6;  // seconds of the serial pass
  const std::uint64_t repeats = size_job(target);
  std::printf("\nCPU-bound job: %d tasks, each summing i*i for i < 10M, %llu times (sized to ~%.1f s serial here)\n",
              cpu_tasks, static_cast<unsigned long long>(repeats), target);
  std::fflush(stdout);

  std::vector<std::uint64_t> tasks(cpu_tasks, repeats);
  weft::comparison measured = weft::compare_strategies(
      repeated_task, tasks, weft::compare_options{.repeats = rounds, .workers = cores, .chunksize = 1, .cpu_bound = true});
  std::vector<weft::strategy_row> rows = measured.rows();
  weft::strategy_row reference = std_async_row(repeats, rounds);
  reference.speedup = rows.front().median / reference.median;
  rows.push_back(std::move(reference));
  weft::comparison table(std::move(rows), rounds, measured.results_agree(), measured.cores_obtained());
  std::cout << "(mpi: scripts/bench adds cpu/mpi under mpiexec; weft-bench --raw runs Google Benchmark's families)\n\n";
  table.print(std::cout);
  if (!run.json_path.empty()) write_json(run.json_path, table, repeats, load);
  return 0;
}

}  // namespace weft_bench
