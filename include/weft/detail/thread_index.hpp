// weft — MIT licence. See LICENSE.
//
// <weft/detail/thread_index.hpp> — internal: a small dense number per thread,
// used to pick a stripe (sharded_counter) or a reader slot (rw_lock) so that
// threads touch different cache lines. Not API.
#pragma once

#include <atomic>
#include <cstddef>

namespace weft::detail {

// Threads are numbered 0, 1, 2, ... in the order they first ask. Numbers are
// not reused; callers reduce them modulo their stripe count.
inline std::size_t this_thread_index() noexcept {
  static std::atomic<std::size_t> next{0};
  // relaxed: only uniqueness matters, no data is published through it.
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index;
}

}  // namespace weft::detail
