// weft — MIT licence. See LICENSE.
//
// <weft/detail/range_access.hpp> — internal: the three range algorithms
// weft needs (empty, distance, next), written on the range access points
// and iterator concepts that every supported standard library ships.
// libc++ 14 (and Apple's libc++ of that age) has std::ranges::begin/end/size
// and the range concepts but not std::ranges::empty/distance/next. Not API.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::detail {

template <std::ranges::range R>
bool range_empty(R& r) {
  return std::ranges::begin(r) == std::ranges::end(r);
}

// A range whose end can never be reached, as its type says
// (std::views::iota(0), a subrange ending in std::unreachable_sentinel):
// an eager algorithm would walk it forever, so the maps refuse it at
// compile time. Also a view of one that ends where what it adapts ends:
// filter, transform, elements, join, common, ref and owning views have
// sentinels of their own, so they are followed through base() (without
// naming them: <ranges> is not included for this). Not followed: a view
// that bounds its base — take (its iterator is a std::counted_iterator)
// and take_while (its iterator is its base's, its sentinel its own). An
// endless range that hides it in its type cannot be told.
template <class I>
inline constexpr bool counts_down = false;
template <class I>
inline constexpr bool counts_down<std::counted_iterator<I>> = true;
template <class R>
constexpr bool endless_by_type() {
  using sentinel = std::ranges::sentinel_t<R>;
  if constexpr (std::same_as<sentinel, std::unreachable_sentinel_t>) {
    return true;
  } else if constexpr (requires(R&& r) {
                         { std::move(r).base() } -> std::ranges::range;
                       }) {
    using base = std::remove_cvref_t<decltype(std::declval<R>().base())>;
    constexpr bool bounds_base =
        counts_down<std::ranges::iterator_t<R>> ||
        (std::same_as<std::ranges::iterator_t<R>, std::ranges::iterator_t<base>> &&
         !std::same_as<sentinel, std::ranges::sentinel_t<base>>);
    return !bounds_base && endless_by_type<base>();
  } else {
    return false;
  }
}
template <class R>
concept endless_range = endless_by_type<std::remove_cvref_t<R>>();

// Number of elements; walks the range once unless its size is known.
template <std::ranges::range R>
std::size_t range_length(R& r) {
  if constexpr (std::ranges::sized_range<R>) {
    return static_cast<std::size_t>(std::ranges::size(r));
  } else {
    std::size_t n = 0;
    for (auto it = std::ranges::begin(r), end = std::ranges::end(r); it != end; ++it) ++n;
    return n;
  }
}

// v < 0, without comparing an unsigned v to 0 (a warning).
template <std::integral T>
constexpr bool negative(T v) noexcept {
  if constexpr (std::is_signed_v<T>) return v < 0;
  else return false;
}

// `it` advanced by n >= 0 steps: O(1) for random access, else n steps.
template <std::input_or_output_iterator I>
I advanced(I it, std::iter_difference_t<I> n) {
  if constexpr (std::random_access_iterator<I>) {
    return it + n;
  } else {
    for (; n > 0; --n) ++it;
    return it;
  }
}

// How the eager maps read their input: through const when the range can be
// read so (a container: f sees its elements as const), else as it is
// (std::views::filter caches its begin, so only a non-const one iterates).
template <class Range>
using map_input_t = std::conditional_t<std::ranges::forward_range<const std::remove_reference_t<Range>>,
                                       const std::remove_reference_t<Range>&, std::remove_reference_t<Range>&>;

// What map() returns for results of type R: std::vector<R>. For an f that
// returns void it names a placeholder instead of std::vector<void>, so that
// the one error the user sees is map's static_assert with the fix, not a
// cascade from inside std::vector.
struct void_result_of_map {};
template <class R>
using map_result_t = std::vector<std::conditional_t<std::is_void_v<R>, void_result_of_map, R>>;

}  // namespace weft::detail
