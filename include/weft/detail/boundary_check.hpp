// weft — MIT licence. See LICENSE.
//
// <weft/detail/boundary_check.hpp> — internal: the compile-time check of
// what may cross a process boundary (DESIGN "What crosses a process
// boundary"). Not API; process_pool and mpi_pool call require_crossable from
// make_remote_task; shared_queue, shared_array and shared_value call
// require_shareable for the T they share as raw bytes.
//
// Nothing that carries an address crosses, because the other process would
// read its own memory at that address: a pointer (function pointers
// included), a reference, std::string_view, std::span, or a type holding one.
// The verdict for a type T:
//   - arithmetic, enum, std::nullptr_t, std::basic_string, std::chrono
//     durations and time points: crosses;
//   - pointer, member pointer, reference, string_view, span, union: refused
//     (a union's live member is unknown, so its pointers cannot be seen);
//   - vector, array, optional, pair, tuple, variant, map, unordered_map:
//     cross when every element type does (recursively);
//   - a class with its own weft::serializer specialization: crosses (the
//     user's serializer is trusted to send values, not addresses);
//   - any other class: it must be an aggregate copied bitwise by the
//     built-in serializer, and it is checked field by field (recursively).
//     Fields are counted by initializing T with a type that converts to
//     anything, then named with structured bindings (aggregate_fields.hpp).
//     Limits: at most max_checked_fields (32) fields, and every field must
//     take that type, braced or (at most two fields, such as a
//     std::chrono::time_point) plain; a std::string_view field is recognized
//     and refused as a view. Both are readable errors asking for a
//     serializer. An aggregate with a base class is refused with its own
//     message (make the base a member, or write a serializer).
// The callable f itself crosses as a function pointer (a code word) or as an
// empty class (a captureless lambda): a capture cannot be checked for
// addresses, so state travels as arguments.
//
// Every refusal is a static_assert in refuse<Offender, Why>, so the compiler
// names the offending type in "required from" lines, and the message says
// the fix.
#pragma once

#include <weft/serialize.hpp>

#include <array>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>
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

namespace weft::detail {

// A callable of weft's own that wraps the user's callable as member `f`
// (remote_task.hpp: map()'s and imap()'s chunk wrappers): f is what crosses.
template <class W>
concept wraps_user_callable = W::wraps_user_callable;

// An aggregate with more fields than this cannot be checked; it needs a serializer.
inline constexpr std::size_t max_checked_fields = max_listed_fields;

// Why a type cannot cross; `none` when it can.
enum class refusal {
  none,
  reference,
  pointer,
  function_pointer,
  view,
  not_serializable,
  c_array_field,
  not_aggregate,
  union_type,
  fields_unlisted,
  base_class,
  too_many_fields,
  capturing_callable,
  not_callable,
};

// The first reason found, with the type that caused it.
template <class Offender, refusal Why>
struct verdict {
  using offender = Offender;
  static constexpr refusal why = Why;
};
using crosses = verdict<void, refusal::none>;

template <class T>
constexpr auto judge();

// The first refusal among several verdicts, or `crosses`.
template <class First, class... Rest>
constexpr auto first_refusal_of() {
  if constexpr (First::why != refusal::none || sizeof...(Rest) == 0) {
    return First{};
  } else {
    return first_refusal_of<Rest...>();
  }
}
template <class... Verdicts>
constexpr auto first_refusal(Verdicts...) {
  if constexpr (sizeof...(Verdicts) == 0) {
    return crosses{};
  } else {
    return first_refusal_of<Verdicts...>();
  }
}
template <class... Ts>
constexpr auto judge_all(std::type_identity<std::tuple<Ts...>>) {
  return first_refusal(judge<Ts>()...);
}

// ---- an aggregate's fields (detail/aggregate_fields.hpp lists them) ----

template <class T>
constexpr auto judge_fields() {
  constexpr field_listing listing = listing_of<T>();
  if constexpr (listing == field_listing::too_many) {
    return verdict<T, refusal::too_many_fields>{};
  } else if constexpr (listing == field_listing::string_view_member) {
    return verdict<std::string_view, refusal::view>{};
  } else if constexpr (listing == field_listing::base_class) {
    return verdict<T, refusal::base_class>{};
  } else if constexpr (listing == field_listing::union_member) {
    return verdict<T, refusal::union_type>{};  // its live member is unknown (see judge)
  } else if constexpr (listing != field_listing::listed) {
    return verdict<T, refusal::fields_unlisted>{};
  } else {
    return judge_all(field_types_t<T>{});
  }
}

// ---- the verdict for one type ----

template <class T, template <class...> class Template>
inline constexpr bool is_instance_of = is_specialization_of<std::remove_cv_t<T>, Template>;

// True when serializer<T> is a user's specialization (not weft's bytes or fields).
template <class T>
concept serialized_by_user = serializable<T> && !builtin_bytes<T> &&
                             !requires { typename serializer<T>::builtin_fields; };

template <class T>
constexpr auto judge_elements() {
  if constexpr (is_std_array<T> || is_instance_of<T, std::vector> || is_instance_of<T, std::optional>) {
    return judge<typename T::value_type>();
  } else if constexpr (is_instance_of<T, std::map> || is_instance_of<T, std::unordered_map>) {
    return first_refusal(judge<typename T::key_type>(), judge<typename T::mapped_type>());
  } else if constexpr (is_instance_of<T, std::pair>) {
    return first_refusal(judge<typename T::first_type>(), judge<typename T::second_type>());
  } else {  // tuple, variant
    return [] <template <class...> class List, class... Ts>(std::type_identity<List<Ts...>>) {
      return first_refusal(judge<Ts>()...);
    }(std::type_identity<T>{});
  }
}
template <class T>
inline constexpr bool is_std_container =
    is_std_array<T> || is_instance_of<T, std::vector> || is_instance_of<T, std::optional> ||
    is_instance_of<T, std::map> || is_instance_of<T, std::unordered_map> || is_instance_of<T, std::pair> ||
    is_instance_of<T, std::tuple> || is_instance_of<T, std::variant>;

// std::chrono values are classes, not aggregates, and copied bitwise.
template <class T>
inline constexpr bool is_chrono_value = false;
template <class Rep, class Period>
inline constexpr bool is_chrono_value<std::chrono::duration<Rep, Period>> = true;
template <class Clock, class Duration>
inline constexpr bool is_chrono_value<std::chrono::time_point<Clock, Duration>> = true;

// The field that makes a listable, address-free aggregate unserializable:
// a C array in a struct that is not copied as its bytes (fields are read back
// by aggregate initialization, which cannot take an array).
template <class T, class... Fields>
constexpr auto unserializable_field(std::type_identity<std::tuple<Fields...>>) {
  constexpr auto field = first_refusal(
      verdict<Fields, serializable<Fields> ? refusal::none
                      : std::is_array_v<Fields> ? refusal::c_array_field
                                                : refusal::not_serializable>{}...);
  if constexpr (field.why == refusal::none) {
    return verdict<T, refusal::not_serializable>{};
  } else {
    return field;
  }
}

template <class T>
constexpr auto judge_class() {
  if constexpr (!std::is_aggregate_v<T>) {
    return verdict<T, refusal::not_aggregate>{};
  } else if constexpr (constexpr auto fields = judge_fields<T>(); fields.why != refusal::none) {
    return fields;
  } else if constexpr (!serializable<T>) {
    return unserializable_field<T>(field_types_t<T>{});  // e.g. { std::string name; int counts[4]; }
  } else {
    return crosses{};
  }
}

template <class T>
constexpr auto judge() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_reference_v<T>) {
    return verdict<T, refusal::reference>{};
  } else if constexpr (std::is_pointer_v<U> && std::is_function_v<std::remove_pointer_t<U>>) {
    return verdict<U, refusal::function_pointer>{};
  } else if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U>) {
    return verdict<U, refusal::pointer>{};
  } else if constexpr (std::is_arithmetic_v<U> || std::is_enum_v<U> || std::is_null_pointer_v<U> ||
                       is_instance_of<U, std::basic_string>) {
    return crosses{};
  } else if constexpr (is_view<U>) {
    return verdict<U, refusal::view>{};
  } else if constexpr (std::is_array_v<U>) {  // a C array field; as an argument it decays to a pointer
    return judge<std::remove_extent_t<U>>();
  } else if constexpr (is_std_container<U>) {
    return judge_elements<U>();
  } else if constexpr (is_chrono_value<U>) {
    return judge<typename U::rep>();  // a count of ticks (a time_point's clock is only a tag)
  } else if constexpr (serialized_by_user<U>) {
    return crosses{};  // the user's serializer decides what travels
  } else if constexpr (std::is_union_v<U>) {  // not a class to std::is_class_v: refused here, not as bytes
    return verdict<U, refusal::union_type>{};
  } else if constexpr (std::is_class_v<U>) {
    return judge_class<U>();
  } else if constexpr (!serializable<U>) {
    return verdict<U, refusal::not_serializable>{};
  } else {
    return crosses{};
  }
}

// True when a value of type T may cross a process boundary.
template <class T>
inline constexpr bool crossable = decltype(judge<T>())::why == refusal::none;

// ---- the callable ----

template <class F>
constexpr auto judge_callable() {
  if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) {
    return crosses{};  // sent as a code word
  } else if constexpr (wraps_user_callable<F>) {
    return judge_callable<decltype(std::declval<F&>().f)>();
  } else if constexpr (!std::is_class_v<F>) {
    return verdict<F, refusal::not_callable>{};
  } else if constexpr (!std::is_empty_v<F> || !std::is_trivially_copyable_v<F>) {
    return verdict<F, refusal::capturing_callable>{};
  } else {
    return crosses{};  // a captureless lambda or an empty function object: sent as its (empty) bytes
  }
}

template <class F>
inline constexpr bool crossable_callable = decltype(judge_callable<F>())::why == refusal::none;

// ---- the diagnostics ----

// One static_assert per reason; the compiler names Offender in the
// instantiation context ("in instantiation of refuse<int*, refusal::pointer>").
template <class Offender, refusal Why>
constexpr void refuse() {
  static_assert(Why != refusal::reference,
                "weft: a reference cannot cross a process boundary (it is an address, meaningless in the "
                "other process): return or pass the value itself, e.g. std::string instead of std::string&");
  static_assert(Why != refusal::pointer,
                "weft: a pointer cannot cross a process boundary (the other process would read its own "
                "memory at that address): pass the value itself, e.g. std::string or std::vector<T>");
  static_assert(Why != refusal::function_pointer,
                "weft: a function pointer cannot cross a process boundary as an argument, result or field: "
                "pass an enum or index that selects the function, or make it the callable f itself");
  static_assert(Why != refusal::view,
                "weft: std::string_view or std::span cannot cross a process boundary (a view is an address "
                "into this process): pass the value itself, e.g. std::string or std::vector<T>");
  static_assert(Why != refusal::not_serializable,
                "weft::serializer<T> is not specialized for this T (the compiler names T in the "
                "instantiation context): specialize weft::serializer<T> with static write(weft::writer&, "
                "const T&) and read(weft::reader&) -> T, or use a supported type (arithmetic, enum, "
                "trivially copyable aggregate, string, vector, array, pair, tuple, optional, map, "
                "unordered_map, variant)");
  static_assert(Why != refusal::c_array_field,
                "weft: a C array field (the compiler names it as Offender) crosses only in a trivially "
                "copyable struct, which travels as its bytes: use std::array<T, N> for the field, or "
                "specialize weft::serializer<T> for the struct");
  static_assert(Why != refusal::not_aggregate,
                "weft: a class that is not an aggregate crosses a process boundary only through a "
                "weft::serializer<T> specialization (its fields cannot be checked for addresses): "
                "specialize weft::serializer<T>, or make T a plain struct of value fields");
  static_assert(Why != refusal::union_type,
                "weft: a union cannot be checked for addresses: use std::variant or specialize "
                "weft::serializer<T>");
  static_assert(Why != refusal::fields_unlisted,
                "weft: cannot list the fields of this aggregate to check them for addresses (a member is "
                "a reference, or a class whose constructors weft cannot probe, or more than two are like "
                "std::chrono::time_point): "
                "specialize weft::serializer<T>, or make its members plain values");
  static_assert(Why != refusal::base_class,
                "weft: an aggregate with a base class cannot be checked field by field for addresses (a "
                "structured binding cannot name fields spread over a base and T): make the base a member, "
                "or specialize weft::serializer<T>");
  static_assert(Why != refusal::too_many_fields,
                "weft: an aggregate with more than weft::detail::max_checked_fields (32) fields cannot be "
                "checked for addresses: group its fields into nested structs, or specialize "
                "weft::serializer<T>");
  static_assert(Why != refusal::capturing_callable,
                "weft: f captures state (by reference or by value), and a capture cannot be checked for "
                "addresses: use a captureless lambda or a function pointer and pass the state as "
                "arguments to submit");
  static_assert(Why != refusal::not_callable,
                "weft: f must be a function pointer or a captureless lambda to run in another process");
}

template <class Verdict>
constexpr void require(Verdict) {
  if constexpr (Verdict::why != refusal::none) refuse<typename Verdict::offender, Verdict::why>();
}

// Compile-time check of a task for process_pool / mpi_pool: the callable F,
// its result R (void allowed) and the decayed argument types Args. Each
// refusal is a static_assert naming the offending type and the fix.
template <class F, class R, class... Args>
inline constexpr bool crossable_task =
    crossable_callable<F> && (std::is_void_v<R> || crossable<R>) && (crossable<Args> && ...);

template <class F, class R, class... Args>
constexpr void require_crossable() {
  require(judge_callable<F>());
  if constexpr (!std::is_void_v<R>) require(judge<R>());
  (require(judge<Args>()), ...);
}

// The one compile error of weft::serialize / deserialize (writer::write,
// reader::read) for a T with no serializer: the verdict submit() would give
// (it names the offending type, for an aggregate its field's, and the fix),
// else the plain "not specialized" one.
template <class T>
constexpr void refuse_unserializable() {
  if constexpr (constexpr auto found = judge<T>(); found.why != refusal::none) {
    require(found);
  } else {
    refuse<T, refusal::not_serializable>();
  }
}

// Whether a refusal is an address seen in the type (rather than a type the
// field-by-field check cannot list).
constexpr bool is_visible_address(refusal why) {
  return why == refusal::reference || why == refusal::pointer || why == refusal::view;
}

// Compile-time check of a T shared as raw bytes between processes
// (shared_queue, shared_array, shared_value): a task argument's verdict,
// when it found an address (a pointer, a reference, a view, a struct
// holding one). Bytes are all these classes copy, so a record the check
// cannot list (a class with private state, more than 32 fields) is taken on
// trust, as DESIGN's "trivially copyable T" promises; so is a function
// pointer (valid in the forked processes that share an anonymous mapping).
// Only for a trivially copyable T: the caller refuses any other T with its
// own message, so that one mistake gives one error. Returns true, for use
// as static_assert(require_shareable<T>()) in a class body.
template <class T>
constexpr bool require_shareable() {
  if constexpr (std::is_trivially_copyable_v<T>) {
    if constexpr (constexpr auto found = judge<T>(); is_visible_address(found.why)) require(found);
  }
  return true;
}

}  // namespace weft::detail
