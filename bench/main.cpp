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
}  // namespace weft_bench

static void print_families() {
  std::printf(
      "weft-bench families (filter with --benchmark_filter=REGEX):\n"
      "  queue/<impl>/<P>p<C>c    items/s through a capacity-1024 queue\n"
      "  rwlock/<impl>/<read %%>   lock operations/s\n"
      "  counter/<impl>/<threads> increments/s\n"
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
  std::printf("\n\n");
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) print_families();
  weft_bench::register_queue();
  weft_bench::register_rwlock();
  weft_bench::register_counter();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
