// weft — MIT licence. See LICENSE.
//
// <weft/detail/aggregate_fields.hpp> — internal: lists the fields of an
// aggregate (their declared types and references to them), so that an
// aggregate of serializable fields crosses a process boundary field by field
// (serialize.hpp) and is checked field by field for addresses
// (boundary_check.hpp). Not API.
//
// How: the fields are counted by brace-initializing T with a type that
// converts to anything, then named with a structured binding of that many
// names. Limits (each leaves T "not listable", so the callers fall back to
// a readable error or to T's bytes): at most max_listed_fields fields; every
// field initializable from that type, braced or (for at most
// max_plain_fields of them, such as a std::chrono::time_point) plain; a
// std::string_view field is told apart (see string_view_field); no base
// class (a structured binding cannot name fields spread over a base and T).
#pragma once

#include <exception>
#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft::detail {

// An aggregate with more fields than this is not listed.
inline constexpr std::size_t max_listed_fields = 32;

// Converts to (a reference to) anything; only ever named in unevaluated
// operands. Only as an rvalue (const&&): a const lvalue must not convert, or
// libc++'s explicit duration(const Rep2&) (constrained on
// is_convertible<const Rep2&, rep>) takes {any_field} and a duration field
// is not listed; and a plain non-const conversion would tie with
// std::optional's optional(U&&), which must win (its U&& binds the less
// cv-qualified argument), or a struct that begins with an optional is not
// listed. Defined all the same: clang with libc++ counts a declared-only
// member of a type without linkage (a local struct) as used and refuses it.
struct any_field {
  template <class U>
  [[noreturn]] operator U&() const&& {
    std::terminate();
  }
};
template <std::size_t>
using any_field_at = any_field;

// Converts only to a base class of T: tells "T's first initializer is a
// base" from "T's first initializer is a member".
template <class T>
struct any_base_of {
  template <class U>
    requires(std::is_base_of_v<U, T> && !std::is_same_v<U, T>)
  operator U&() const;
};

// Converts to anything by value: a field that refuses both any_field probes
// but takes this one (std::unique_ptr: it binds no lvalue) ends the count
// early; T is then not listed, rather than listed short.
struct any_value {
  template <class U>
  operator U() const;
};

// A union only (by a plain initializer): finds a union-typed field.
struct any_union {
  template <class U>
    requires std::is_union_v<U>
  operator U&() const;
};

// A string view only; tells a std::string_view field from other fields
// that refuse a braced any_field.
struct string_view_field {
  template <class C, class Tr>
  operator std::basic_string_view<C, Tr>&() const;
};

// The probes. Each field gets a braced initializer {a}: braces stop a C
// array member from taking several initializers (brace elision). A field
// that refuses {a} but takes a plain a is initialized by copy: a class with
// an explicit constructor from another type beside its copy constructor
// (std::chrono::time_point: {a} finds both and is ambiguous; a plain a
// considers only conversions to the field's own type). A probe holds up to
// two such plain initializers (max_plain_fields), then Tail... (plain too).
inline constexpr std::size_t max_plain_fields = 2;

// T{{a}..., Tail...}
template <class T, class... Tail, std::size_t... I>
constexpr bool initializable(std::index_sequence<I...>) {
  return requires { T{{any_field_at<I>{}}..., Tail{}...}; };
}
// T{{a}..., a, {a}..., Tail...}
template <class T, class... Tail, std::size_t... I, std::size_t... J>
constexpr bool initializable(std::index_sequence<I...>, std::index_sequence<J...>) {
  return requires { T{{any_field_at<I>{}}..., any_field{}, {any_field_at<J>{}}..., Tail{}...}; };
}
// T{{a}..., a, {a}..., a, {a}..., Tail...}
template <class T, class... Tail, std::size_t... I, std::size_t... J, std::size_t... K>
constexpr bool initializable(std::index_sequence<I...>, std::index_sequence<J...>, std::index_sequence<K...>) {
  return requires { T{{any_field_at<I>{}}..., any_field{}, {any_field_at<J>{}}..., any_field{}, {any_field_at<K>{}}...,
                      Tail{}...}; };
}

// The probe of a layout: Plain plain initializers (0 to max_plain_fields),
// with runs of R0, R1, R2 braced ones before, between and after them, then
// Tail... (plain).
template <class T, std::size_t Plain, std::size_t R0, std::size_t R1, std::size_t R2, class... Tail>
constexpr bool takes_layout() {
  using std::make_index_sequence;
  if constexpr (Plain == 0) {
    return initializable<T, Tail...>(make_index_sequence<R0>{});
  } else if constexpr (Plain == 1) {
    return initializable<T, Tail...>(make_index_sequence<R0>{}, make_index_sequence<R1>{});
  } else {
    return initializable<T, Tail...>(make_index_sequence<R0>{}, make_index_sequence<R1>{}, make_index_sequence<R2>{});
  }
}

// Why T's fields cannot be listed; `listed` when they can.
enum class field_listing {
  listed,
  not_aggregate,
  too_many,
  string_view_member,
  unlisted_member,
  base_class,
  union_member,  // a union field (see union_at)
};
struct field_layout {
  field_listing listing;
  std::size_t fields;  // the fields counted (all of them when listed)
};

// Grows the last run of braced initializers while T takes one more, then
// looks past it: the end of T; a std::string_view field; a field that takes
// only a plain initializer, which starts the next run (one more than
// max_plain_fields of those: not listed); or a field that takes neither
// probe but a value (not listed).
template <class T, std::size_t Plain = 0, std::size_t R0 = 0, std::size_t R1 = 0, std::size_t R2 = 0>
constexpr field_layout layout_from() {
  constexpr std::size_t fields = Plain + R0 + R1 + R2;
  constexpr std::size_t grown0 = R0 + (Plain == 0), grown1 = R1 + (Plain == 1), grown2 = R2 + (Plain == 2);
  if constexpr (fields > max_listed_fields) {
    return {field_listing::too_many, fields};
  } else if constexpr (takes_layout<T, Plain, grown0, grown1, grown2>()) {
    return layout_from<T, Plain, grown0, grown1, grown2>();
  } else if constexpr (takes_layout<T, Plain, R0, R1, R2, string_view_field>()) {
    return {field_listing::string_view_member, fields};
  } else if constexpr (!takes_layout<T, Plain, R0, R1, R2, any_field>()) {
    if constexpr (takes_layout<T, Plain, R0, R1, R2, any_value>()) {
      return {field_listing::unlisted_member, fields};  // a field that only a value initializes
    } else {
      return {field_listing::listed, fields};
    }
  } else if constexpr (Plain == max_plain_fields) {
    return {field_listing::unlisted_member, fields};
  } else {
    return layout_from<T, Plain + 1, R0, R1, R2>();
  }
}

// T{base, {b}, ...}: the first of the N initializers is a base class. The
// base's initializer is not braced: {base} would aggregate-initialize an
// aggregate base's first member from it, which it refuses, so a base with
// fields went unnoticed until the structured binding failed.
// T{base} alone, the other fields left to their defaults, catches a base
// followed by fields that take only plain initializers.
template <class T, std::size_t First, std::size_t... I>
constexpr bool first_initializer_is_base(std::index_sequence<First, I...>) {
  return requires { T{any_base_of<T>{}, {any_field_at<I>{}}...}; } || requires { T{any_base_of<T>{}}; };
}
template <class T>
constexpr bool first_initializer_is_base(std::index_sequence<>) {
  return false;
}

// A union field, named or anonymous: its live member is unknown, and no
// structured binding can name T's fields beside an anonymous one. Clang
// lets a union-only conversion initialize either kind; GCC only a named
// one, and tells an anonymous one as the field that takes a braced {a}
// (its first member does) but no plain a (no accessible copy). Probed
// after braced initializers only (later fields left to their defaults), so
// a union after a field that takes only a plain initializer
// (std::chrono::time_point) goes unseen.
template <class T, std::size_t... I>
constexpr bool union_at(std::index_sequence<I...>) {
  return requires { T{{any_field_at<I>{}}..., any_union{}}; } ||
         (requires { T{{any_field_at<I>{}}..., {any_field{}}}; } && !requires { T{{any_field_at<I>{}}..., any_field{}}; });
}
template <class T, std::size_t... Position>
constexpr bool has_union_field(std::index_sequence<Position...>) {
  return (union_at<T>(std::make_index_sequence<Position>{}) || ...);
}

template <class T>
constexpr field_layout layout_of() {
  if constexpr (!std::is_class_v<T> || !std::is_aggregate_v<T>) {  // a union is not a class to is_class_v
    return {field_listing::not_aggregate, 0};
  } else {
    constexpr field_layout layout = layout_from<T>();
    if constexpr (layout.listing != field_listing::listed) {
      return layout;
    } else if constexpr (first_initializer_is_base<T>(std::make_index_sequence<layout.fields>{})) {
      return {field_listing::base_class, layout.fields};
    } else if constexpr (has_union_field<T>(std::make_index_sequence<layout.fields>{})) {
      return {field_listing::union_member, layout.fields};
    } else if constexpr (layout.fields == 0 && !std::is_empty_v<T>) {
      // Fields, but not even T{{a}} or T{a} compiles: a field the count never
      // reached cannot be left out (a reference without a default member
      // initializer), so the count says nothing about the fields.
      return {field_listing::unlisted_member, 0};
    } else {
      return layout;
    }
  }
}
template <class T>
constexpr field_listing listing_of() {
  return layout_of<T>().listing;
}
template <class T>
inline constexpr bool fields_listable = listing_of<T>() == field_listing::listed;

// The declared types of a class's fields, as field_list<...>: decltype of a
// structured binding is the member's declared type (int&, const char*), so
// references and pointers are seen as such.
template <class... Ts>
using field_list = std::type_identity<std::tuple<Ts...>>;

// Calls visit(field_list<declared types...>{}, field references...) for
// T's N fields (T may be const). Written out once per count: a structured
// binding needs one name per field.
template <std::size_t N, class T, class Visit>
constexpr decltype(auto) visit_fields(T& object, Visit&& visit) {
  static_assert(N <= max_listed_fields, "weft: visit_fields lists at most max_listed_fields fields");
  if constexpr (N == 0) {
    return visit(field_list<>{});
  } else if constexpr (N == 1) {
    auto& [f0] = object;
    return visit(field_list<decltype(f0)>{}, f0);
  } else if constexpr (N == 2) {
    auto& [f0, f1] = object;
    return visit(field_list<decltype(f0), decltype(f1)>{}, f0, f1);
  } else if constexpr (N == 3) {
    auto& [f0, f1, f2] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2)>{}, f0, f1, f2);
  } else if constexpr (N == 4) {
    auto& [f0, f1, f2, f3] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3)>{}, f0, f1, f2, f3);
  } else if constexpr (N == 5) {
    auto& [f0, f1, f2, f3, f4] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4)>{}, f0, f1,
        f2, f3, f4);
  } else if constexpr (N == 6) {
    auto& [f0, f1, f2, f3, f4, f5] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5)>{}, f0, f1, f2, f3, f4, f5);
  } else if constexpr (N == 7) {
    auto& [f0, f1, f2, f3, f4, f5, f6] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6)>{}, f0, f1, f2, f3, f4, f5, f6);
  } else if constexpr (N == 8) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7)>{}, f0, f1, f2, f3, f4, f5, f6, f7);
  } else if constexpr (N == 9) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8);
  } else if constexpr (N == 10) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9)>{}, f0, f1, f2, f3, f4, f5, f6, f7,
        f8, f9);
  } else if constexpr (N == 11) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10)>{}, f0, f1, f2, f3,
        f4, f5, f6, f7, f8, f9, f10);
  } else if constexpr (N == 12) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11)>{},
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11);
  } else if constexpr (N == 13) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12);
  } else if constexpr (N == 14) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13);
  } else if constexpr (N == 15) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12,
        f13, f14);
  } else if constexpr (N == 16) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9,
        f10, f11, f12, f13, f14, f15);
  } else if constexpr (N == 17) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16)>{}, f0, f1, f2, f3, f4, f5,
        f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16);
  } else if constexpr (N == 18) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17)>{}, f0, f1, f2,
        f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17);
  } else if constexpr (N == 19) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18);
  } else if constexpr (N == 20) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18,
        f19);
  } else if constexpr (N == 21) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20] =
        object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15,
        f16, f17, f18, f19, f20);
  } else if constexpr (N == 22) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12,
        f13, f14, f15, f16, f17, f18, f19, f20, f21);
  } else if constexpr (N == 23) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9,
        f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22);
  } else if constexpr (N == 24) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23)>{}, f0, f1, f2, f3, f4, f5,
        f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23);
  } else if constexpr (N == 25) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24)>{}, f0, f1, f2,
        f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24);
  } else if constexpr (N == 26) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24),
        decltype(f25)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18,
        f19, f20, f21, f22, f23, f24, f25);
  } else if constexpr (N == 27) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25, f26] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24), decltype(f25),
        decltype(f26)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18,
        f19, f20, f21, f22, f23, f24, f25, f26);
  } else if constexpr (N == 28) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25, f26, f27] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24), decltype(f25),
        decltype(f26), decltype(f27)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15,
        f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27);
  } else if constexpr (N == 29) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25, f26, f27, f28] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24), decltype(f25),
        decltype(f26), decltype(f27), decltype(f28)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12,
        f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28);
  } else if constexpr (N == 30) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25, f26, f27, f28, f29] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24), decltype(f25),
        decltype(f26), decltype(f27), decltype(f28), decltype(f29)>{}, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9,
        f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29);
  } else if constexpr (N == 31) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25, f26, f27, f28, f29, f30] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24), decltype(f25),
        decltype(f26), decltype(f27), decltype(f28), decltype(f29), decltype(f30)>{}, f0, f1, f2, f3, f4, f5,
        f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26,
        f27, f28, f29, f30);
  } else if constexpr (N == 32) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
        f21, f22, f23, f24, f25, f26, f27, f28, f29, f30, f31] = object;
    return visit(field_list<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4),
        decltype(f5), decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17), decltype(f18),
        decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23), decltype(f24), decltype(f25),
        decltype(f26), decltype(f27), decltype(f28), decltype(f29), decltype(f30), decltype(f31)>{}, f0, f1, f2,
        f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24,
        f25, f26, f27, f28, f29, f30, f31);
  }
}

// Calls visit(field_list<...>{}, fields...) for every field of a listable T.
template <class T, class Visit>
constexpr decltype(auto) visit_fields(T& object, Visit&& visit) {
  return visit_fields<layout_of<std::remove_cv_t<T>>().fields>(object, std::forward<Visit>(visit));
}

struct field_list_only {
  template <class List, class... Fields>
  // Defined: see any_field. const&: a bit-field binds only to a const reference.
  List operator()(List list, const Fields&...) const {
    return list;
  }
};
// field_list<declared field types...> of a listable T.
template <class T>
using field_types_t = decltype(visit_fields(std::declval<T&>(), field_list_only{}));

}  // namespace weft::detail
