// weft — MIT licence. See LICENSE.
// weft-bench entry point. With no arguments (or --quick, --rounds N,
// --json FILE) it runs the strategy comparison and prints its table and
// verdict (strategies.cpp), as scripts/bench does; with --raw or any
// --benchmark_* flag it registers every family and hands over to Google
// Benchmark, whose raw rows scripts/bench turns into its report.
#include <benchmark/benchmark.h>

#include "strategies.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace weft_bench {
void register_queue();
void register_rwlock();
void register_counter();
void register_pool();
void register_forkjoin();
void register_cpu();
void register_serialize();
void register_sweep();
void register_async();
void register_async_http();
#if defined(__unix__) || defined(__APPLE__)
void register_shm();
void register_process();
#endif
#if defined(WEFT_BENCH_HAVE_MPI)
void register_mpi();
#endif
}  // namespace weft_bench

static void print_usage() {
  std::printf(
      "weft-bench: which strategy (serial, threads, processes) wins on this machine.\n"
      "\n"
      "  weft-bench [--quick] [--rounds N] [--json FILE]\n"
      "      the strategy comparison: the tutorial's CPU-bound job (4 tasks, each summing i*i for\n"
      "      i < 10M, repeated so serial takes ~0.6 s) serially, on a thread_pool and a process_pool\n"
      "      in interleaved rounds, std::async as a reference row; prints the table and a verdict:\n"
      "      line (inconclusive when the machine is busy or the lead is within the noise).\n"
      "  weft-bench --raw [Google Benchmark flags]   every family below, Google Benchmark's rows\n"
      "  weft-bench --benchmark_filter=REGEX ...     the same (any --benchmark_* flag)\n"
      "\n"
      "scripts/bench runs both and writes bench/results/<date>-<host>.json and .svg\n(-2, -3, ... when that name is taken)\n"
      "(scripts/bench --help); scripts/bench --quick is the short form.\n"
      "\n"
      "Google Benchmark prints '***WARNING*** Library was built as DEBUG' when its own library\n"
      "(libbenchmark, e.g. Debian's package) was compiled without NDEBUG: that is the harness's\n"
      "bookkeeping, not weft's code, which scripts/bench builds Release. The verdict mode does not\n"
      "use Google Benchmark.\n"
      "\n"
      "families (--raw, filter with --benchmark_filter=REGEX):\n"
      "  queue/<impl>/<P>p<C>c    items/s through a capacity-1024 queue\n"
      "  rwlock/<impl>/<read %%>   lock operations/s\n"
      "  counter/<impl>/<threads> increments/s\n"
      "  pool/<impl>/submit_get   tasks/s: submit 4096 tiny tasks, get every future\n"
      "  pool/<impl>/post_wait    tasks/s: post 4096 tiny tasks, wait for all\n"
      "  cpu/<strategy>           the tutorial's CPU-bound job (one 10M pass per task): serial, threads,\n"
      "                           processes, std_async (a reference), mpi\n"
      "  shm/queue/<P>p<C>c       items/s through shared_queue between processes\n"
      "  shm/pipe/1p1c            the same items through a pipe (baseline)\n"
      "  serialize/<type>         bytes/s of a serialize + deserialize round trip\n"
      "  process/weft/<case>      process_pool: roundtrip, roundtrip_batch, map_chunked, imap_unordered, shared_array, by_value\n"
      "  sweep/<cpu|io>/<threads|processes>/<workers>  worker-count sweeps\n"
      "  async/<impl>/sleep_semaphore  10,000 100 ms sleeps under a semaphore(1000): wall_s vs 1.0 s, peak RSS\n"
      "  async/<impl>/spawn_await      tasks/s: spawn 200,000 trivial coroutines, await each\n"
      "  async/<impl>/http_get         loopback HTTP GETs/s, 100 connections in flight (Boost.Beast)\n"
      "  cpu/mpi, mpi/roundtrip   mpi_pool (only under mpiexec; scripts/bench launches it)\n"
      "peers compiled in:");
#if defined(WEFT_BENCH_HAVE_TBB)
  std::printf(" tbb");
#endif
#if defined(WEFT_BENCH_HAVE_MOODYCAMEL)
  std::printf(" moodycamel");
#endif
#if defined(WEFT_BENCH_HAVE_ATOMIC_QUEUE)
  std::printf(" atomic_queue");
#endif
#if defined(WEFT_BENCH_HAVE_BOOST)
  std::printf(" boost");
#endif
#if defined(WEFT_BENCH_HAVE_MPI)
  std::printf(" mpi");
#endif
  std::printf("\n");
}

// The strategy mode's arguments; false when an argument belongs to Google
// Benchmark's mode (or is unknown, which that mode reports).
static bool parse_strategy_args(int argc, char** argv, weft_bench::strategy_run& run) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      run.quick = true;
    } else if (a == "--rounds" && i + 1 < argc) {
      run.rounds = static_cast<std::size_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--json" && i + 1 < argc) {
      run.json_path = argv[++i];
    } else {
      return false;
    }
  }
  return true;
}

static bool under_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      print_usage();
      return 0;
    }
  weft_bench::strategy_run run;
  if (!under_mpi() && parse_strategy_args(argc, argv, run)) return weft_bench::run_strategies(run);
  // Google Benchmark's mode: drop --raw, keep its own flags.
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--raw") != 0) args.push_back(argv[i]);
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  weft_bench::register_queue();
  weft_bench::register_rwlock();
  weft_bench::register_counter();
  weft_bench::register_pool();
  weft_bench::register_forkjoin();
  weft_bench::register_cpu();
  weft_bench::register_serialize();
  weft_bench::register_sweep();
  weft_bench::register_async();
  weft_bench::register_async_http();
#if defined(__unix__) || defined(__APPLE__)
  weft_bench::register_shm();
  weft_bench::register_process();
#endif
#if defined(WEFT_BENCH_HAVE_MPI)
  weft_bench::register_mpi();  // under mpiexec only; worker ranks do not return from it
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
