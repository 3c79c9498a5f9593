// weft — MIT licence. See LICENSE.
//
// <weft/detail/serialize_traits.hpp> — internal: the type traits behind
// weft::serializer (which types are copied as bytes, the least bytes an
// encoding takes). Not API.
#pragma once

#include <weft/detail/aggregate_fields.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace weft {
template <class T, class Enable>
struct serializer;  // serialize.hpp (the default Enable = void is given there)
}  // namespace weft

namespace weft::detail {

template <class T, template <class...> class Template>
inline constexpr bool is_specialization_of = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_specialization_of<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

// A view: its bytes are an address into this process.
template <class T>
inline constexpr bool is_view = false;
template <class C, class Tr>
inline constexpr bool is_view<std::basic_string_view<C, Tr>> = true;
template <class T, std::size_t E>
inline constexpr bool is_view<std::span<T, E>> = true;

// True when serializer<T> is weft's built-in byte copy, not a user's
// specialization (which always wins, also for a trivially copyable T).
template <class T>
concept builtin_bytes = requires { typename serializer<std::remove_cv_t<T>, void>::builtin_bitwise; };

// A part of a trivially copyable type (an element, a member, a field; a C
// array of them) may travel inside the whole's bytes.
template <class Part>
constexpr bool part_copied_as_bytes() {
  if constexpr (std::is_array_v<Part>) {
    return part_copied_as_bytes<std::remove_extent_t<Part>>();
  } else {
    return builtin_bytes<Part>;
  }
}
template <class... Parts>
constexpr bool parts_copied_as_bytes(std::type_identity<std::tuple<Parts...>>) {
  return (part_copied_as_bytes<Parts>() && ...);
}

// The parts of a trivially copyable T that could have serializers of their
// own: std::array's elements, pair's and tuple's members, an aggregate's
// fields. A class whose fields cannot be listed (not an aggregate, a base
// class, ...) is its own bytes, unless a std::string_view stopped the listing.
template <class T>
constexpr bool parts_of_copied_as_bytes() {
  if constexpr (is_std_array<T>) {
    return part_copied_as_bytes<typename T::value_type>();
  } else if constexpr (is_specialization_of<T, std::pair>) {
    return part_copied_as_bytes<typename T::first_type>() && part_copied_as_bytes<typename T::second_type>();
  } else if constexpr (is_specialization_of<T, std::tuple>) {
    return parts_copied_as_bytes(std::type_identity<T>{});
  } else if constexpr (fields_listable<T>) {
    return parts_copied_as_bytes(field_types_t<T>{});
  } else if constexpr (listing_of<T>() == field_listing::string_view_member) {
    return false;  // a view's bytes are an address (the listing stops at it)
  } else {
    return true;
  }
}

// Types copied as raw bytes: arithmetic, enums and other trivially copyable
// types, except pointers and views (an address means nothing in another
// process),
// types whose bytes carry an invariant a corrupt message could break (bool,
// std::optional and std::variant are encoded with a validated tag instead),
// and types with a part that is one of those or has a user's serializer
// (e.g. std::array<std::variant<...>, N>, a struct holding a bool): those
// travel part by part. (A class whose fields cannot be listed is copied
// bitwise and not validated: its bytes are its own.)
template <class T>
constexpr bool copied_as_bytes() {
  if constexpr (!std::is_trivially_copyable_v<T> || std::is_pointer_v<T> || std::is_member_pointer_v<T> ||
                is_view<T> || std::is_same_v<T, bool> || std::is_array_v<T> || is_specialization_of<T, std::optional> ||
                is_specialization_of<T, std::variant>) {
    return false;
  } else {
    return parts_of_copied_as_bytes<T>();
  }
}
template <class T>
inline constexpr bool bitwise_serializable = copied_as_bytes<T>();

template <class T>
inline constexpr bool is_map = is_specialization_of<T, std::map> || is_specialization_of<T, std::unordered_map>;

// True when serializer<T> is weft's field-by-field rule for an aggregate.
template <class T>
concept builtin_fields = requires { typename serializer<std::remove_cv_t<T>, void>::builtin_fields; };

// A lower bound on the bytes the encoding of any T takes, so that a count
// read from the input is bounded by what the input can hold
// (reader::read_size). Exact for the built-in types; 0 for a user's
// serializer, whose encoding weft cannot see and which may write nothing (an
// empty tag type): a count of such elements is bounded by the reader's
// budget instead (read_elements in serialize.hpp).
template <class T>
constexpr std::size_t min_wire_size() noexcept;

template <class... Ts>
constexpr std::size_t min_wire_size_of_alternatives() noexcept {
  return std::min({min_wire_size<Ts>()...});
}
template <class... Ts>
constexpr std::size_t min_wire_size_of_all(std::type_identity<std::tuple<Ts...>>) noexcept {
  return (std::size_t{0} + ... + min_wire_size<std::remove_cv_t<Ts>>());
}

template <class T>
constexpr std::size_t min_wire_size() noexcept {
  if constexpr (builtin_bytes<T>) {
    return sizeof(T);
  } else if constexpr (std::is_same_v<T, bool> || is_specialization_of<T, std::optional>) {
    return 1;  // the value or the flag
  } else if constexpr (is_specialization_of<T, std::basic_string> || is_specialization_of<T, std::vector> ||
                       is_map<T>) {
    return sizeof(std::size_t);  // the length
  } else if constexpr (is_std_array<T>) {
    return std::tuple_size_v<T> * min_wire_size<typename T::value_type>();
  } else if constexpr (is_specialization_of<T, std::pair>) {
    return min_wire_size<typename T::first_type>() + min_wire_size<typename T::second_type>();
  } else if constexpr (is_specialization_of<T, std::tuple>) {
    return min_wire_size_of_all(std::type_identity<T>{});
  } else if constexpr (is_specialization_of<T, std::variant>) {
    return sizeof(std::uint32_t) + [] <class... Ts>(std::variant<Ts...>*) {
      return min_wire_size_of_alternatives<Ts...>();
    }(static_cast<T*>(nullptr));
  } else if constexpr (builtin_fields<T>) {
    return min_wire_size_of_all(field_types_t<T>{});
  } else {
    return 0;  // a user's encoding: unknown, maybe empty
  }
}

// Reserves room for `n` decoded elements, but never more bytes than the
// input has left: `n` came from the input and may be corrupt. A smaller
// reservation only costs the vector a few regrowths.
template <class Vector>
void reserve_bounded(Vector& v, std::size_t n, std::size_t remaining_bytes) {
  using T = typename Vector::value_type;
  v.reserve(std::min(n, remaining_bytes / sizeof(T)));
}

}  // namespace weft::detail
