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
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::detail {

template <std::ranges::range R>
bool range_empty(R& r) {
  return std::ranges::begin(r) == std::ranges::end(r);
}

// The standard views that end exactly where the range they adapt ends
// (filter, transform, drop, join, ...: each has a base() and, over an
// endless range, a sentinel of its own). Told by name: their templates
// live in <ranges>, which would cost every pool header 6-8% more compile
// time, and a user's own view with a base() may well bound it (a custom
// take), so only the standard ones are followed. take and take_while
// bound their base and are not listed. Needs GCC's or Clang's
// __PRETTY_FUNCTION__; elsewhere no view is followed.
template <class T>
constexpr bool ends_with_its_base() noexcept {
#if defined(__GNUC__) || defined(__clang__)
  // "... [with T = std::ranges::filter_view<...>]" (GCC), "[T = ...]" (Clang).
  constexpr std::string_view signature = __PRETTY_FUNCTION__;
  constexpr std::string_view views[] = {"ref_view<",      "owning_view<",     "filter_view<",     "transform_view<",
                                         "drop_view<",     "drop_while_view<", "elements_view<",   "join_view<",
                                         "common_view<",   "lazy_split_view<", "split_view<",      "join_with_view<",
                                         "as_const_view<", "as_rvalue_view<",  "enumerate_view<",  "chunk_view<",
                                         "slide_view<",    "stride_view<",     "chunk_by_view<",   "adjacent_view<"};
  for (std::string_view prefix : {"T = std::ranges::", "T = std::__1::ranges::"}) {
    const auto at = signature.find(prefix);
    if (at == std::string_view::npos) continue;
    const auto rest = signature.substr(at + prefix.size());
    for (std::string_view view : views)
      if (rest.substr(0, view.size()) == view) return true;
  }
#endif
  return false;
}

// A range whose end can never be reached, as its type says
// (std::views::iota(0), a subrange ending in std::unreachable_sentinel, and
// the standard views above of one): an eager algorithm would walk it
// forever, so the maps refuse it at compile time. An endless range that
// hides it in its type (a generator, take_while of a predicate that stays
// true, a user's view over one) cannot be told. R keeps its const: a range
// may be readable only through const.
template <class R>
constexpr bool endless_by_type() {
  if constexpr (!std::ranges::range<R>) {
    return false;
  } else if constexpr (std::same_as<std::ranges::sentinel_t<R>, std::unreachable_sentinel_t>) {
    return true;
  } else if constexpr (ends_with_its_base<std::remove_cv_t<R>>()) {
    // Asked of an rvalue: a view over a move-only base gives it only so.
    return endless_by_type<std::remove_reference_t<decltype(std::declval<std::remove_cv_t<R>>().base())>>();
  } else {
    return false;
  }
}
template <class R>
concept endless_range = endless_by_type<std::remove_reference_t<R>>();

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
