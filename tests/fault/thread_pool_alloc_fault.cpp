// weft — MIT licence. See LICENSE.
// A submit that fails for lack of memory must leave the pool consistent:
// the task never existed, wait() and the destructor still return. This
// binary replaces operator new so that one thread can make large
// allocations fail on demand.
#include <weft/thread_pool.hpp>

#include "support.hpp"

#include <cstdlib>
#include <new>
#include <vector>

namespace {
thread_local bool fail_large_allocations = false;
}  // namespace

// Sanitizer runtimes own operator new (ASan would see our delete free its
// allocations: alloc-dealloc-mismatch), so the replacement is left out there.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_TEST_SANITIZED 1
#endif

#if !defined(WEFT_TEST_SANITIZED)
void* operator new(std::size_t n) {
  if (fail_large_allocations && n >= 4096) throw std::bad_alloc();  // simulated exhaustion
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

// Whether this binary's operator new is the one above: a sanitizer
// runtime may interpose its own, and then no failure can be injected.
bool injection_works() {
  fail_large_allocations = true;
  bool threw = false;
  try {
    char* volatile probe = new char[8192];  // volatile: the compiler may not elide this allocation
    delete[] probe;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  fail_large_allocations = false;
  return threw;
}

TEST_CASE("a submit that throws bad_alloc on a worker leaves wait() and the destructor working (hang)",
          "[thread_pool][fault]") {
  if (!injection_works()) {
    WARN("operator new is the sanitizer runtime's here: no allocation failure can be injected; skipped");
    return;
  }
  weft_test::finishes("submit until an allocation fails, then wait()", [] {
    weft::thread_pool pool(1);
    auto parent = pool.submit([&pool] {
      std::vector<weft::future<int>> children;
      children.reserve(200000);  // so that only the pool allocates while armed
      bool threw = false;
      fail_large_allocations = true;
      for (int i = 0; i < 200000 && !threw; ++i) {
        try {
          children.push_back(pool.submit([i] { return i % 2; }));
        } catch (const std::bad_alloc&) {
          threw = true;
        }
      }
      fail_large_allocations = false;
      long sum = 0;
      for (auto& f : children) sum += f.get();
      return threw ? sum : -1L;
    });
    CHECK(parent.get() >= 0);  // a submit did fail, and every other child ran
    pool.wait();               // before the fix: never returned
  });
}
