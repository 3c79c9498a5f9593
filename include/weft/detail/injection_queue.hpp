// weft — MIT licence. See LICENSE.
//
// <weft/detail/injection_queue.hpp> — internal: the unbounded FIFO through
// which threads outside a pool hand tasks to its workers. Not API.
//
// Producers never lock: push is D. Vyukov's intrusive MPSC queue ("Intrusive
// MPSC node-based queue", 1024cores.net): one exchange on head_, then one
// store linking the predecessor. Consumers (the pool's workers) are
// serialized by a small lock that producers never touch (consumer_guard),
// which turns the MPSC queue into an MPMC one without slowing submitters
// down.
//
// Caveat of the algorithm: between a producer's exchange (P1) and its link
// store (P2) the items behind it are unreachable; pop() then returns nullptr
// although size() > 0. Callers treat that as "retry soon", never as "empty".
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/wait.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace weft::detail {

// Base of anything queued: the intrusive link.
struct queue_node {
  std::atomic<queue_node*> next{nullptr};  // written by the producer that links us (P2)
};

class injection_queue {
 public:
  injection_queue() noexcept = default;
  injection_queue(const injection_queue&) = delete;
  injection_queue& operator=(const injection_queue&) = delete;

  // Any thread. Wait-free. FIFO in the order of the exchanges (P1).
  void push(queue_node* node) noexcept {
    // Counted before it is linked: a consumer can pop a node as soon as it
    // is linked, and a count that came after could let size() see more
    // pops than pushes (pending() ~2^64). Counted first, a node may be in
    // size() before pop() can reach it: the caveat above.
    // seq_cst: the store side of the pool's Dekker pair with sleeping workers
    // (a worker re-checks size() after announcing that it sleeps, then
    // finds the node once linked: it does not sleep while size() > 0).
    // Only producers write pushed_, so a lone submitter keeps its line.
    pushed_.fetch_add(1, std::memory_order_seq_cst);
    link(node);
  }

  // Any thread. The oldest linked node, or nullptr (empty, or a push in
  // progress: see the caveat above).
  queue_node* pop() {
    if (size() == 0) return nullptr;
    consumer_guard guard(consumer_lock_);
    queue_node* node = pop_locked();
    // A plain increment: consumers are serialized by consumer_lock_. release:
    // a size() that reads this count then reads pushed_ no lower than the
    // pushes of the nodes popped so far (they happened before their links,
    // which this pop acquired), so size() never sees more pops than pushes.
    if (node != nullptr) popped_.store(popped_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return node;
  }

  // Nodes pushed and not popped (snapshot). seq_cst load of pushed_: the
  // re-check side of the Dekker pair described in push().
  std::size_t size() const noexcept {
    const std::size_t popped = popped_.load(std::memory_order_acquire);  // first: see pop()
    return pushed_.load(std::memory_order_seq_cst) - popped;
  }

 private:
  // A three-state futex lock (0 free, 1 held, 2 held and someone may
  // sleep), which spins briefly before it sleeps: std::mutex sleeps at
  // once, and a contended pop (a few loads and stores) is far shorter than
  // a sleep and a wake-up. A pure spin lock was tried: with hundreds of
  // workers on two cores a preempted holder left every other taker spinning
  // and yielding, so the waiter does sleep, and the holder's unlock wakes
  // one sleeper only when state 2 says there may be one.
  class consumer_guard {
   public:
    explicit consumer_guard(std::atomic<std::uint32_t>& state) noexcept : state_(state) {
      // acquire (every successful take below): the previous holder's
      // tail_/popped_ writes are visible.
      std::uint32_t seen = 0;
      if (state_.compare_exchange_strong(seen, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
      for (int spins = 0; spins < spin_limit; ++spins) {
        cpu_relax();
        seen = 0;
        if (state_.load(std::memory_order_relaxed) == 0 &&
            state_.compare_exchange_strong(seen, 1, std::memory_order_acquire, std::memory_order_relaxed))
          return;
      }
      // Taking it as 2 is conservative: the unlock then wakes one sleeper
      // that may not exist (never the reverse, which would strand one).
      while (state_.exchange(2, std::memory_order_acquire) != 0)
        futex_wait(state_, 2, wait_policy::forever(), futex_scope::process_private);
    }
    ~consumer_guard() {
      // release: pairs with the acquire above.
      if (state_.exchange(0, std::memory_order_release) == 2) futex_wake(state_, 1, futex_scope::process_private);
    }
    consumer_guard(const consumer_guard&) = delete;
    consumer_guard& operator=(const consumer_guard&) = delete;

   private:
    std::atomic<std::uint32_t>& state_;
  };

  void link(queue_node* node) noexcept {
    node->next.store(nullptr, std::memory_order_relaxed);  // published by the release exchange (P1)
    // (P1) acq_rel: release publishes the node's contents to the consumer
    // that reaches it; acquire orders us after the previous producer.
    queue_node* prev = head_.exchange(node, std::memory_order_acq_rel);
    // (P2) release: pairs with the acquire loads of `next` in pop_locked().
    prev->next.store(node, std::memory_order_release);
  }

  // Every acquire load of `next` pairs with the release link store (P2) of
  // the producer that wrote it: the node it names is then fully visible.
  queue_node* pop_locked() {
    queue_node* tail = tail_;
    queue_node* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {  // skip the stub
      if (next == nullptr) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    // `tail` is the last linked node. If a producer is between P1 and P2,
    // we cannot take it yet (its successor is not reachable).
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // acquire: pairs with (P1)
    link(&stub_);  // re-insert the stub so that `tail` gets a successor
    next = tail->next.load(std::memory_order_acquire);
    if (next == nullptr) return nullptr;  // another push slipped in before the stub
    tail_ = next;
    return tail;
  }

  alignas(false_sharing_range) std::atomic<queue_node*> head_{&stub_};  // producers exchange it
  alignas(false_sharing_range) queue_node* tail_ = &stub_;              // guarded by consumer_lock_
  std::atomic<std::uint32_t> consumer_lock_{0};  // consumer_guard's futex word
  queue_node stub_;                                                     // the algorithm's dummy node
  // Two counters rather than one RMW'd by both sides: producers and
  // consumers would bounce one line on every task. size() = pushed_ - popped_.
  alignas(false_sharing_range) std::atomic<std::size_t> pushed_{0};  // producers only (RMW)
  alignas(false_sharing_range) std::atomic<std::size_t> popped_{0};  // the consumer_lock_ holder only (store)
};

}  // namespace weft::detail
