// weft — MIT licence. See LICENSE.
//
// <weft/detail/segment_header.hpp> — internal: the checks every opener of a
// named shared-memory container makes on its header. Not API.
#pragma once

#include <weft/detail/shm.hpp>  // throw_errno

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace weft::detail {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "shared memory headers need address-free atomics");

// A mapped segment as checked_header sees it.
struct shared_memory_view {
  void* data;
  std::size_t size;
  const std::string& name;
};

// What an opener expects of a segment's header and contents. Every
// container header starts with magic, element_size, count, element_align.
struct segment_layout {
  std::uint64_t magic;         // the container's "initialized" mark
  std::size_t header_bytes;    // offset of the first element
  std::size_t element_size;    // sizeof(T)
  std::size_t element_align;   // alignof(T)
  std::size_t stride;          // bytes each of `count` elements takes in the segment
  std::uint64_t max_count;     // the most elements the container supports
};

// Checks a segment opened by name against what its creator wrote, so that a
// corrupt header can never make the opener reach outside the segment.
// Throws std::invalid_argument when the segment holds something else (no
// magic: not an initialized container; another element size or alignment:
// not a container of this T), std::system_error (EINVAL) when the header
// does not fit the segment (too small for a header, a count of 0, above
// max_count, or more elements than the bytes after the header hold;
// overflow-safe). `who` names the container, e.g. "weft::shared_array".
template <class Header>
Header& checked_header(const shared_memory_view& segment, const segment_layout& want, const std::string& who) {
  const std::string where = who + "::open: segment '" + segment.name + "'";
  if (segment.size < want.header_bytes)
    throw_errno(EINVAL, where + " has " + std::to_string(segment.size) + " bytes, too few for a header");
  auto& h = *std::launder(static_cast<Header*>(segment.data));
  // acquire: pairs with the creator's release store of magic (initialize()).
  if (h.magic.load(std::memory_order_acquire) != want.magic)
    throw std::invalid_argument(where + " is not an initialized " + who);
  if (h.element_size != want.element_size || h.element_align != want.element_align)
    throw std::invalid_argument(where + " holds elements of " + std::to_string(h.element_size) + " bytes (alignment " +
                                std::to_string(h.element_align) + "), not " + std::to_string(want.element_size) +
                                " (alignment " + std::to_string(want.element_align) + ")");
  const std::uint64_t fits = (segment.size - want.header_bytes) / want.stride;
  if (h.count == 0 || h.count > want.max_count || h.count > fits)
    throw_errno(EINVAL, where + " has a corrupt header: it announces " + std::to_string(h.count) +
                            " elements; the segment holds " + std::to_string(std::min<std::uint64_t>(fits, want.max_count)));
  return h;
}

}  // namespace weft::detail
