// weft — MIT licence. See LICENSE.
// mpi_pool's start-up check: built twice (the second with WEFT_TEST_VARIANT,
// so its build-id differs) and started as one job of both binaries, the
// ranks that run the other build must stop the job naming both identities.
#include <weft/mpi_pool.hpp>

#include <cstdio>

#if defined(WEFT_TEST_VARIANT)
#define BUILD_NAME "variant"  // another build of the same source: other bytes, another build-id
#else
#define BUILD_NAME "original"
#endif

namespace {
int square(int x) { return x * x; }
}  // namespace

int main() {
  weft::mpi_pool pool;
  std::printf("the job went on (%s build): %d\n", BUILD_NAME, pool.submit(square, 7).get());
}
