// weft — MIT licence. See LICENSE.
//
// <weft/detail/work_stealing_deque.hpp> — internal: the per-worker deque of
// thread_pool. Not API.
//
// The Chase-Lev deque (D. Chase, Y. Lev, "Dynamic Circular Work-Stealing
// Deque", SPAA 2005) with the C11 memory orders of N. M. Lê et al., "Correct
// and Efficient Work-Stealing for Weak Memory Models", PPoPP 2013. Deviation:
// where Lê et al. use relaxed accesses plus atomic_thread_fence(seq_cst), this
// version makes the racing accesses themselves seq_cst. That is equally
// correct, costs the same on x86-64, and ThreadSanitizer (which does not model
// fences) understands it.
//
// The owner pushes and pops at the bottom (LIFO: recently submitted subtasks
// are hot in cache); thieves steal from the top (FIFO: the oldest, usually
// largest, piece of work). Old buffers are kept until the deque dies, because
// a thief may still read from one after the owner has grown the deque.
#pragma once

#include <weft/detail/asymmetric_fence.hpp>
#include <weft/detail/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace weft::detail {

template <class T>
  requires std::is_pointer_v<T>
class work_stealing_deque {
 public:
  explicit work_stealing_deque(std::size_t capacity = 256)
      : buffer_(new ring(capacity)) {
    retired_.emplace_back(buffer_.load(std::memory_order_relaxed));
  }
  work_stealing_deque(const work_stealing_deque&) = delete;
  work_stealing_deque& operator=(const work_stealing_deque&) = delete;

  // Owner only.
  void push(T item) {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    std::int64_t t = top_.load(std::memory_order_acquire);
    ring* r = buffer_.load(std::memory_order_relaxed);
    if (b - t >= static_cast<std::int64_t>(r->capacity)) r = grow(r, t, b);
    r->put(b, item);
    // release: pairs with the acquire load of bottom_ in steal(), so the item
    // (and what it points to) is visible to the thief that takes it. This
    // store is also the "publish" step (N1) of the pool's sleep protocol,
    // which must be ordered before the pusher's load of the sleeper count
    // (N2, see thread_pool::notify_one_worker): light() does that, paired
    // with the heavy() a worker going to sleep issues between raising the
    // sleeper count and re-checking the deques. With membarrier light() is
    // a compiler barrier, so a push costs no locked instruction. Under
    // ThreadSanitizer the store is seq_cst instead (hot_store_order).
    bottom_.store(b + 1, asymmetric_fence::hot_store_order);
    asymmetric_fence::light();
  }

  // Owner only. The most recently pushed item, or nullptr.
  T pop() {
    // Empty for sure, without the seq_cst store below (a locked instruction
    // a worker would otherwise pay on every look at an empty deque): top_
    // only grows, so a stale top_ can only make the deque look fuller, and
    // bottom_ is ours.
    if (top_.load(std::memory_order_relaxed) >= bottom_.load(std::memory_order_relaxed)) return nullptr;
    std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    ring* r = buffer_.load(std::memory_order_relaxed);
    // seq_cst store then seq_cst load: the Dekker pair with steal()'s loads of
    // top_ then bottom_ (Lê et al.'s fence in take()).
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    // The restoring stores are release, like push()'s: a thief that reads
    // them must still synchronize with the pushes of the items below.
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_release);
      return nullptr;
    }
    T item = r->get(b);
    if (t == b) {  // last item: race the thieves for it
      bool won = top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                              std::memory_order_relaxed);
      bottom_.store(b + 1, std::memory_order_release);
      return won ? item : nullptr;
    }
    return item;
  }

  // Owner only. Like pop(), but only an item at index >= floor: the items
  // pushed since bottom_index() returned `floor` (a task's own subtasks).
  T pop_above(std::int64_t floor) {
    if (bottom_.load(std::memory_order_relaxed) <= floor) return nullptr;
    return pop();
  }
  // Owner only. The index the next push() will use.
  std::int64_t bottom_index() const noexcept { return bottom_.load(std::memory_order_relaxed); }

  // Any thread. The oldest item, or nullptr when empty or when another
  // thread won the race for it.
  T steal() { return steal_above(0); }
  // Any thread. Like steal(), but only an item at index >= floor.
  T steal_above(std::int64_t floor) {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t < floor) return nullptr;
    std::int64_t b = bottom_.load(std::memory_order_seq_cst);  // acquire: pairs with push()
    if (t >= b) return nullptr;
    // acquire: the buffer the owner grew into is fully initialized.
    ring* r = buffer_.load(std::memory_order_acquire);
    T item = r->get(t);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
      return nullptr;
    return item;
  }

  // Snapshot; may be stale at once. A worker about to sleep uses it as the
  // re-check (W2) of the Dekker pair with push(): after its heavy() fence,
  // or, under ThreadSanitizer, as seq_cst loads pairing with push()'s
  // seq_cst store.
  bool empty() const noexcept {
    return bottom_.load(std::memory_order_seq_cst) <= top_.load(std::memory_order_seq_cst);
  }
  // Snapshot of the item count (relaxed: a statistic, orders nothing).
  std::size_t size() const noexcept {
    std::int64_t n = bottom_.load(std::memory_order_relaxed) - top_.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

 private:
  struct ring {
    explicit ring(std::size_t cap) : capacity(cap), mask(cap - 1), slots(new std::atomic<T>[cap]) {
      WEFT_ASSERT((cap & (cap - 1)) == 0, "deque capacity must be a power of two");
    }
    // Slots are atomics (relaxed): a thief may read a slot the owner is
    // overwriting after the thief has lost its CAS; the value is discarded.
    void put(std::int64_t i, T v) noexcept {
      slots[static_cast<std::size_t>(i) & mask].store(v, std::memory_order_relaxed);
    }
    T get(std::int64_t i) const noexcept {
      return slots[static_cast<std::size_t>(i) & mask].load(std::memory_order_relaxed);
    }
    std::size_t capacity, mask;
    std::unique_ptr<std::atomic<T>[]> slots;
  };

  ring* grow(ring* old, std::int64_t t, std::int64_t b) {
    auto bigger = std::make_unique<ring>(old->capacity * 2);
    for (std::int64_t i = t; i < b; ++i) bigger->put(i, old->get(i));
    ring* r = bigger.get();
    retired_.push_back(std::move(bigger));  // owner only
    // release: pairs with the acquire load in steal().
    buffer_.store(r, std::memory_order_release);
    return r;
  }

  alignas(false_sharing_range) std::atomic<std::int64_t> top_{0};     // thieves CAS it
  alignas(false_sharing_range) std::atomic<std::int64_t> bottom_{0};  // owner writes it
  std::atomic<ring*> buffer_;                                          // owner replaces it on growth
  std::vector<std::unique_ptr<ring>> retired_;                         // owner only; every buffer ever used
};

}  // namespace weft::detail
