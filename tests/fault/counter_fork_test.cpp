// weft — MIT licence. See LICENSE.
// atomic_counter placed in MAP_SHARED memory is shared by forked processes.
#include <weft/atomic_counter.hpp>

#include "support.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <new>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_CASE("atomic_counter works in memory shared between processes", "[atomic_counter][fork]") {
  void* mem = ::mmap(nullptr, sizeof(weft::atomic_counter<>), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  auto* counter = new (mem) weft::atomic_counter<>();
  constexpr int children = 3, per_child = 100000;
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int i = 0; i < per_child; ++i) counter->increment();
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (int i = 0; i < per_child; ++i) counter->increment();
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  CHECK(counter->value() == (children + 1) * per_child);
  counter->~atomic_counter();
  ::munmap(mem, sizeof(weft::atomic_counter<>));
}
#endif
