// weft — MIT licence. See LICENSE.
//
// <weft/detail/injection_queue.hpp> — internal: the unbounded FIFO through
// which threads outside a pool hand tasks to its workers. Not API.
//
// Producers never lock: push is D. Vyukov's intrusive MPSC queue ("Intrusive
// MPSC node-based queue", 1024cores.net): one exchange on head_, then one
// store linking the predecessor. Consumers (the pool's workers) are
// serialized by a mutex that producers never touch, which turns the MPSC
// queue into an MPMC one without slowing submitters down.
//
// Caveat of the algorithm: between a producer's exchange (P1) and its link
// store (P2) the items behind it are unreachable; pop() then returns nullptr
// although size() > 0. Callers treat that as "retry soon", never as "empty".
#pragma once

#include <weft/detail/config.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>

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
    // is linked, and a count that came after could let a second consumer's
    // decrement take size_ below zero (pending() ~2^64). Counted first, a
    // node may be in size_ before pop() can reach it: the caveat above.
    // seq_cst: the store side of the pool's Dekker pair with sleeping workers
    // (a worker re-checks size() after announcing that it sleeps, then
    // finds the node once linked: it does not sleep while size() > 0).
    size_.fetch_add(1, std::memory_order_seq_cst);
    link(node);
  }

  // Any thread. The oldest linked node, or nullptr (empty, or a push in
  // progress: see the caveat above).
  queue_node* pop() {
    if (size_.load(std::memory_order_seq_cst) == 0) return nullptr;
    std::lock_guard lock(pop_mutex_);
    queue_node* node = pop_locked();
    if (node != nullptr) size_.fetch_sub(1, std::memory_order_seq_cst);
    return node;
  }

  // Nodes pushed and not popped (snapshot).
  std::size_t size() const noexcept { return size_.load(std::memory_order_seq_cst); }

 private:
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
  alignas(false_sharing_range) queue_node* tail_ = &stub_;              // guarded by pop_mutex_
  std::mutex pop_mutex_;
  queue_node stub_;                                                     // the algorithm's dummy node
  alignas(false_sharing_range) std::atomic<std::size_t> size_{0};       // pushes counted - pops; never below 0
};

}  // namespace weft::detail
