// weft — MIT licence. See LICENSE.
//
// <weft/detail/part_claims.hpp> — the parts of one parallel_for or map,
// claimed one at a time by whichever threads work on them.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <limits>
#include <mutex>

namespace weft::detail {

// Parts 0..parts-1, each handed to exactly one claimer, in increasing order.
// Remembers the failure of the lowest failing part (map and parallel_for
// rethrow "the first in input order").
class part_claims {
 public:
  explicit part_claims(std::size_t parts) noexcept : parts_(parts) {}
  part_claims(const part_claims&) = delete;
  part_claims& operator=(const part_claims&) = delete;

  // Claims and runs parts until none is left. Safe on any number of threads.
  template <class RunPart>
  void work(RunPart& run_part) noexcept {
    // relaxed: the counter only hands out indices; what a part wrote reaches
    // the caller through the helper's future (or is the caller's own). Each
    // claimer overshoots parts_ once, so the counter cannot wrap before 2^64
    // parts ran.
    for (std::size_t k = next_.fetch_add(1, std::memory_order_relaxed); k < parts_;
         k = next_.fetch_add(1, std::memory_order_relaxed)) {
      try {
        run_part(k);
      } catch (...) {
        keep_failure(k, std::current_exception());
      }
    }
  }

  // Every part was claimed (so ran, once its claimer returned from work()).
  bool all_claimed() const noexcept { return next_.load(std::memory_order_relaxed) >= parts_; }

  // After every claimer returned.
  void rethrow_first_failure() const {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  void keep_failure(std::size_t part, std::exception_ptr error) noexcept {
    std::lock_guard lock(failure_mutex_);  // failures are rare; a lock is simplest
    if (part < failed_part_) {
      failed_part_ = part;
      failure_ = std::move(error);
    }
  }

  const std::size_t parts_;
  std::atomic<std::size_t> next_{0};
  std::mutex failure_mutex_;
  std::size_t failed_part_ = std::numeric_limits<std::size_t>::max();  // guarded by failure_mutex_
  std::exception_ptr failure_;                                         // guarded by failure_mutex_
};

}  // namespace weft::detail
