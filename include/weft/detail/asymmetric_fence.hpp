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
// Where membarrier is unavailable (not Linux, WEFT_PORTABLE_WAIT or
// WEFT_NO_MEMBARRIER defined, old kernel headers, a kernel before 4.14, or
// a seccomp filter that refuses the registration) both are
// atomic_thread_fence(seq_cst). ThreadSanitizer models neither fences nor
// membarrier: under it both are no-ops and callers make the accesses
// themselves seq_cst (hot_store_order), so that TSan checks the handshake as
// written.
//
// The mode is decided by prepare(), which thread_pool's constructor calls
// before it starts its workers (thread creation then publishes the mode to
// every thread that uses the fences): no lazy one-time initializer, whose
// guard a fork() taken mid-initialization would leave held in the child.
// Before prepare() both sides use full fences. If a barrier ever fails after
// registration (a checkpoint/restore that dropped it, a seccomp filter added
// later), the mode becomes `broken` for good: light() sides that still use
// the cheap form are then unprotected, so heavy() reports it and sleepers
// poll (see reliable()) instead of sleeping without a deadline.
// (A seccomp policy that kills on unknown system calls instead of refusing
// them kills the process at registration: define WEFT_NO_MEMBARRIER there.)
#pragma once

#include <atomic>

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#if defined(__linux__) && !defined(WEFT_PORTABLE_WAIT) && !defined(WEFT_NO_MEMBARRIER) && !defined(WEFT_TSAN)
#include <sys/syscall.h>
#include <unistd.h>
#if defined(SYS_membarrier)  // kernel headers 4.3 and later
#define WEFT_MEMBARRIER 1
#endif
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

  // Decides the mode once per process (idempotent; later calls return at
  // once). Call before starting the threads that use the fences.
  static void prepare() noexcept {
#if defined(WEFT_MEMBARRIER)
    // relaxed: decided before the fence users start (thread creation orders).
    if (mode().load(std::memory_order_relaxed) != unknown) return;
    const bool ok = ::syscall(SYS_membarrier, query_cmd, 0, 0) > 0 &&
                    (::syscall(SYS_membarrier, query_cmd, 0, 0) & private_expedited_cmd) != 0 &&
                    ::syscall(SYS_membarrier, register_private_expedited_cmd, 0, 0) == 0;
    int expected = unknown;  // two pools built at once: the first decision stands
    mode().compare_exchange_strong(expected, ok ? expedited : fences, std::memory_order_relaxed);
#endif
  }

  // The hot side, between its store and its load.
  static void light() noexcept {
    if constexpr (!tsan) {
      // relaxed: the mode is published by thread creation (prepare()); a
      // stale `expedited` after a failure is what reliable() covers.
      if (mode().load(std::memory_order_relaxed) == expedited)
        std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with heavy()'s membarrier
      else
        std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with heavy()'s fence
    }
  }
  // The rare side, between its store and its load. A system call when
  // membarrier is in use (microseconds: an interrupt on each CPU that runs
  // one of our threads). False when the barrier failed: the caller must not
  // sleep without a deadline on what it is about to check.
  static bool heavy() noexcept {
    if constexpr (!tsan) {
#if defined(WEFT_MEMBARRIER)
      if (mode().load(std::memory_order_relaxed) == expedited) {
        if (::syscall(SYS_membarrier, private_expedited_cmd, 0, 0) == 0) return true;
        mode().store(broken, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return false;
      }
#endif
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with light()'s fence
    }
    return true;
  }
  // False once a barrier failed after registration: sleepers then wake on
  // a short timer, as some light() may have skipped its fence.
  static bool reliable() noexcept { return mode().load(std::memory_order_relaxed) != broken; }

 private:
  enum : int { unknown, expedited, fences, broken };
  // The membarrier(2) ABI (linux/membarrier.h, which old headers lack).
  static constexpr int query_cmd = 0, private_expedited_cmd = 1 << 3, register_private_expedited_cmd = 1 << 4;
  static std::atomic<int>& mode() noexcept {
    static std::atomic<int> m{unknown};  // constant-initialized: no guard, nothing for fork() to interrupt
    return m;
  }
};

}  // namespace weft::detail
