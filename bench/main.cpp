// weft — MIT licence. See LICENSE.
// weft-bench entry point: registers every family, lists families and the
// peers compiled in for --help, then hands over to Google Benchmark.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>

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

static void print_families() {
  std::printf(
      "weft-bench families (filter with --benchmark_filter=REGEX):\n"
      "  queue/<impl>/<P>p<C>c    items/s through a capacity-1024 queue\n"
      "  rwlock/<impl>/<read %%>   lock operations/s\n"
      "  counter/<impl>/<threads> increments/s\n"
      "  pool/<impl>/submit_get   tasks/s: submit 4096 tiny tasks, get every future\n"
      "  pool/<impl>/post_wait    tasks/s: post 4096 tiny tasks, wait for all\n"
      "  cpu/<strategy>           the seed's CPU-bound job: serial, threads, std_async\n"
      "  shm/queue/<P>p<C>c       items/s through shared_queue between processes\n"
      "  shm/pipe/1p1c            the same items through a pipe (baseline)\n"
      "  serialize/<type>         bytes/s of a serialize + deserialize round trip\n"
      "  process/weft/<case>      process_pool: roundtrip, map_chunked, shared_array, by_value\n"
      "  cpu/processes            the seed's CPU-bound job on a process_pool\n"
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
#if defined(WEFT_BENCH_HAVE_BOOST)
  std::printf(" boost");
#endif
#if defined(WEFT_BENCH_HAVE_MPI)
  std::printf(" mpi");
#endif
  std::printf("\n\n");
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) print_families();
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
