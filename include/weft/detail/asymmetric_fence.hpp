// weft — MIT licence. See LICENSE.
//
// <weft/detail/asymmetric_fence.hpp> — internal: the two fences of a Dekker
// (store-buffering) handshake whose one side runs per task and the other
// rarely. Not API.
//
// Each side of the pair "store mine, then load yours" needs a full fence
// between its store and its load. When one side is hot (a worker pushing a
// task) and the other rare (a worker going to sleep), the rare side can pay
// for both: Linux's membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) makes every
// running thread of the process execute a full memory barrier before it
// returns, so the hot side needs only a compiler barrier. A light() on one
// side and a heavy() on the other order like two seq_cst fences: of the two
// loads after them, at least one sees the other side's store. (The technique
// of liburcu and folly's asymmetricLightBarrier/asymmetricHeavyBarrier.)
//
// Where membarrier is unavailable (not Linux, WEFT_PORTABLE_WAIT defined, a
// kernel before 4.14, or a seccomp filter that refuses the registration)
// both are atomic_thread_fence(seq_cst), decided once, before either is
// first used. ThreadSanitizer models neither fences nor membarrier: under
// it both are no-ops and callers make the accesses themselves seq_cst
// (hot_store_order), so that TSan checks the handshake as written.
#pragma once

#include <atomic>
#include <cstdio>
#include <exception>

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#if defined(__linux__) && !defined(WEFT_PORTABLE_WAIT) && !defined(WEFT_TSAN)
#define WEFT_MEMBARRIER 1
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace weft::detail {

struct asymmetric_fence {
#if defined(WEFT_TSAN)
  static constexpr bool tsan = true;
#else
  static constexpr bool tsan = false;
#endif
  // The hot side's store: release, followed by light(); seq_cst under TSan,
  // where light() and heavy() do nothing and the rare side's accesses are
  // seq_cst too.
  static constexpr std::memory_order hot_store_order = tsan ? std::memory_order_seq_cst : std::memory_order_release;

  // The hot side, between its store and its load.
  static void light() noexcept {
    if constexpr (!tsan) {
      if (expedited())
        std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with heavy()'s membarrier
      else
        std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with heavy()'s fence
    }
  }
  // The rare side, between its store and its load. A system call when
  // membarrier is in use (microseconds: an interrupt on each CPU that runs
  // one of our threads).
  static void heavy() noexcept {
    if constexpr (!tsan) {
#if defined(WEFT_MEMBARRIER)
      if (expedited()) {
        if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
        // Registered once and never dropped (a fork()ed child keeps it), so
        // this cannot fail; if it did, light() sides are unprotected: stop
        // rather than lose a wake-up silently.
        std::fputs("weft: membarrier(PRIVATE_EXPEDITED) failed after registration\n", stderr);
        std::terminate();
      }
#endif
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with light()'s fence
    }
  }

 private:
  // Decided once (thread-safe static initialization) before the first
  // light() or heavy(), and never changes: both sides always agree.
  static bool expedited() noexcept {
#if defined(WEFT_MEMBARRIER)
    static const bool registered = [] {
      long commands = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
      if (commands < 0 || (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
      return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    }();
    return registered;
#else
    return false;
#endif
  }
};

}  // namespace weft::detail
