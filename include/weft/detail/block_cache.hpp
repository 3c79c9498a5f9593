// weft — MIT licence. See LICENSE.
//
// <weft/detail/block_cache.hpp> — internal: recycling of task-state memory.
// Not API.
//
// A pool's submitter allocates every task's state and a worker frees it, so
// with plain malloc the submitting thread never finds a recycled block in
// its own cache and pays for a fresh allocation each time (measured: a
// quarter of post()'s cost). Here freed blocks collect in the freeing
// thread's cache and move, 64 at a time, through a mutex-protected depot to
// whichever thread allocates next: one lock per 64 blocks.
//
// Memory is bounded: a thread keeps at most 2 x 64 blocks per size class and
// the depot at most 4 MiB per class (depot_limit batches); beyond that, blocks go
// back to the allocator. So a burst (a million-task backlog) is returned to
// malloc once it drains, and a thread's blocks are freed when it exits.
//
// Under AddressSanitizer the cache is bypassed, so that use-after-free of a
// task state is still detected.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

namespace weft::detail {

class block_cache {
 public:
  static void* allocate(std::size_t bytes) {
    int c = size_class(bytes);
    if (c < 0) return ::operator new(bytes);
    // Always a whole class-sized block: any thread may later recycle it.
    if (cache_gone()) return ::operator new(class_bytes(c));
    return local().take(c);
  }
  static void deallocate(void* p, std::size_t bytes) noexcept {
    int c = size_class(bytes);
    if (c < 0 || cache_gone()) {
      ::operator delete(p);
      return;
    }
    local().give(c, p);
  }

 private:
  static constexpr std::size_t class_count = 4;  // 64, 128, 256, 512 bytes
  static constexpr std::size_t batch = 64;
  // Bytes the depot keeps per class: enough to carry a burst of ~2^16 small
  // tasks (the 64- and 128-byte classes that post() and submit() of small
  // lambdas use) between submitters and workers without going back to
  // malloc, whose cross-thread frees were most of a worker's time beyond
  // the old 8192-block limit; small next to a million-task backlog.
  static constexpr std::size_t depot_bytes_per_class = std::size_t{4} << 20;
  static constexpr std::size_t depot_limit(std::size_t c) noexcept {
    return depot_bytes_per_class / (batch * class_bytes(static_cast<int>(c)));
  }

  struct block {
    block* next;
  };
  struct chain {  // a singly linked batch of blocks
    block* head = nullptr;
    std::size_t count = 0;
  };

  static int size_class(std::size_t bytes) noexcept {
#if defined(__SANITIZE_ADDRESS__)
    (void)bytes;
    return -1;
#else
    for (int c = 0; c < static_cast<int>(class_count); ++c)
      if (bytes <= class_bytes(c)) return c;
    return -1;
#endif
  }
  static constexpr std::size_t class_bytes(int c) noexcept { return std::size_t{64} << c; }

  // Full batches shared by all threads; lives until exit.
  struct depot {
    std::mutex mutex;
    std::array<std::vector<chain>, class_count> full;  // guarded by mutex
    // full[c].size(), written under the mutex: a thread whose take() would
    // find no batch, or whose put() would find no room, skips the lock (a
    // burst of fresh allocations otherwise locked once per block). relaxed:
    // a stale count only costs one locked look or one batch freed early.
    std::array<std::atomic<std::size_t>, class_count> batches{};

    bool take(int c, chain& out) {
      const auto i = static_cast<std::size_t>(c);
      if (batches[i].load(std::memory_order_relaxed) == 0) return false;
      std::lock_guard lock(mutex);
      auto& v = full[i];
      if (v.empty()) return false;
      out = v.back();
      v.pop_back();
      batches[i].store(v.size(), std::memory_order_relaxed);
      return true;
    }
    // False when the depot already holds depot_limit(c) batches of this class
    // (the caller then frees the batch).
    bool put(int c, chain in) {
      const auto i = static_cast<std::size_t>(c);
      if (batches[i].load(std::memory_order_relaxed) >= depot_limit(i)) return false;
      std::lock_guard lock(mutex);
      auto& v = full[i];
      if (v.size() >= depot_limit(i)) return false;
      if (v.capacity() == 0) v.reserve(depot_limit(i));  // the only allocation: put() never throws after it
      v.push_back(in);
      batches[i].store(v.size(), std::memory_order_relaxed);
      return true;
    }
  };
  // Never destroyed: threads (a static pool's workers) may still give blocks
  // back during static destruction. Its blocks stay reachable, not leaked.
  static depot& shared() {
    static depot* d = new depot;
    return *d;
  }

  static void release(chain& ch) noexcept {
    while (ch.head != nullptr) {
      block* b = ch.head;
      ch.head = b->next;
      ::operator delete(static_cast<void*>(b));
    }
    ch.count = 0;
  }

  // One per thread; its blocks are freed when the thread exits.
  struct thread_cache {
    std::array<chain, class_count> lists;

    void* take(int c) {
      chain& list = lists[static_cast<std::size_t>(c)];
      if (list.head == nullptr && !shared().take(c, list))
        return ::operator new(class_bytes(c));
      block* b = list.head;
      list.head = b->next;
      --list.count;
      return b;
    }
    void give(int c, void* p) noexcept {
      chain& list = lists[static_cast<std::size_t>(c)];
      auto* b = static_cast<block*>(p);
      b->next = list.head;
      list.head = b;
      if (++list.count < 2 * batch) return;
      chain spill;  // hand a batch to the depot for the allocating threads
      while (spill.count < batch) {
        block* moved = list.head;
        list.head = moved->next;
        moved->next = spill.head;
        spill.head = moved;
        ++spill.count;
        --list.count;
      }
      bool kept = false;
      try {
        kept = shared().put(c, spill);
      } catch (...) {
        // no memory for the depot's vector: free instead
      }
      if (!kept) release(spill);
    }
    ~thread_cache() {
      for (chain& ch : lists) release(ch);
      cache_gone() = true;
    }
  };
  // True once this thread's cache was destroyed (thread exit, or the main
  // thread during static destruction): later calls bypass it. A trivially
  // destructible thread_local, so it stays usable until the thread ends.
  static bool& cache_gone() noexcept {
    static thread_local bool gone = false;
    return gone;
  }
  static thread_cache& local() {
    static thread_local thread_cache cache;
    return cache;
  }
};

}  // namespace weft::detail
