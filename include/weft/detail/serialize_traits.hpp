// weft — MIT licence. See LICENSE.
//
// <weft/detail/serialize_traits.hpp> — internal: the type traits behind
// weft::serializer (which types are copied as bytes, the least bytes an
// encoding takes). Not API.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace weft::detail {

// Called as require_serializable<serializable<T>>() where T is encoded or
// decoded: the one place that says what to do about an unsupported T.
template <bool Serializable>
constexpr void require_serializable() {
  static_assert(Serializable,
                "weft::serializer<T> is not specialized for this T (the compiler names T in the "
                "instantiation context): specialize weft::serializer<T> with static write(weft::writer&, "
                "const T&) and read(weft::reader&) -> T, or use a supported type (arithmetic, enum, "
                "trivially copyable struct, string, vector, array, pair, tuple, optional, map, "
                "unordered_map, variant)");
}

template <class T, template <class...> class Template>
inline constexpr bool is_specialization_of = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_specialization_of<Template<Args...>, Template> = true;

// Types copied as raw bytes: arithmetic, enums and other trivially copyable
// types, except pointers (an address means nothing in another process), and
// types whose bytes carry an invariant a corrupt message could break: bool,
// std::optional and std::variant are encoded with a validated tag instead.
// (A user struct copied bitwise is not validated: its bytes are its own.)
template <class T>
inline constexpr bool bitwise_serializable =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T> &&
    !std::is_same_v<T, bool> && !std::is_array_v<T> && !is_specialization_of<T, std::optional> &&
    !is_specialization_of<T, std::variant>;

template <class T>
inline constexpr bool is_map = is_specialization_of<T, std::map> || is_specialization_of<T, std::unordered_map>;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

// A lower bound on the bytes the encoding of any T takes, at least 1, so
// that a count read from the input is bounded by what the input can hold
// (reader::read_size). Exact for the built-in types; 1 for user
// serializers, whose encodings weft cannot see.
template <class T>
constexpr std::size_t min_wire_size() noexcept;

template <class... Ts>
constexpr std::size_t min_wire_size_of_alternatives() noexcept {
  return std::min({min_wire_size<Ts>()...});
}

template <class T>
constexpr std::size_t min_wire_size() noexcept {
  std::size_t bytes = 1;  // a tag, a flag, or a user encoding
  if constexpr (bitwise_serializable<T>) {
    bytes = sizeof(T);
  } else if constexpr (is_specialization_of<T, std::basic_string> || is_specialization_of<T, std::vector> ||
                       is_specialization_of<T, std::map> || is_specialization_of<T, std::unordered_map>) {
    bytes = sizeof(std::size_t);  // the length
  } else if constexpr (is_std_array<T>) {
    bytes = std::tuple_size_v<T> * min_wire_size<typename T::value_type>();
  } else if constexpr (is_specialization_of<T, std::pair>) {
    bytes = min_wire_size<typename T::first_type>() + min_wire_size<typename T::second_type>();
  } else if constexpr (is_specialization_of<T, std::tuple>) {
    bytes = [] <class... Ts>(std::tuple<Ts...>*) {
      return (std::size_t{0} + ... + min_wire_size<Ts>());
    }(static_cast<T*>(nullptr));
  } else if constexpr (is_specialization_of<T, std::variant>) {
    bytes = sizeof(std::uint32_t) + [] <class... Ts>(std::variant<Ts...>*) {
      return min_wire_size_of_alternatives<Ts...>();
    }(static_cast<T*>(nullptr));
  }
  return bytes == 0 ? 1 : bytes;
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
