// weft — MIT licence. See LICENSE.
//
// <weft/serialize.hpp> — what crosses a process boundary: the serializer<T>
// customization point, weft::writer / weft::reader over a byte buffer, and
// built-in support for the standard vocabulary types. Python pickles
// implicitly; weft makes it a compile-time property of the type.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <weft/detail/serialize_traits.hpp>
#include <weft/error.hpp>

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace weft {

class writer;
class reader;
namespace detail {
template <class Element, class ReadOne>
void read_elements(reader& r, std::size_t n, ReadOne read_one);
template <class T>
constexpr void refuse_unserializable();  // boundary_check.hpp, included at the end
}  // namespace detail

// Customization point. Specialize it for your type:
//
//   template <> struct weft::serializer<point> {
//     static void write(weft::writer& w, const point& p) { w.write(p.x); w.write(p.name); }
//     static point read(weft::reader& r) { auto x = r.read<double>(); return {x, r.read<std::string>()}; }
//   };
//
// A user's specialization always wins over the built-in rules below, also
// for a trivially copyable T and inside containers and aggregates. A type
// no rule covers has no serializer: using it fails at compile time (see
// weft::serializable).
namespace detail {
template <class T>
struct bytes_serializer;  // a trivially copyable T, as its bytes (below)
template <class T>
struct fields_serializer;  // an aggregate, field by field (below)
struct no_serializer {
  using not_specialized = void;
};
template <class T>
constexpr bool serialized_by_fields();
// The built-in rule for a T no specialization covers.
template <class T>
using builtin_serializer_t =
    std::conditional_t<bitwise_serializable<T>, bytes_serializer<T>,
                       std::conditional_t<serialized_by_fields<T>(), fields_serializer<T>, no_serializer>>;
}  // namespace detail

// The primary template holds the built-in rules for a T no specialization
// covers (bytes of a trivially copyable T, the fields of an aggregate), so
// that a user's specialization, full or partial, never competes with them.
template <class T, class Enable = void>
struct serializer : detail::builtin_serializer_t<T> {};

// True when T can cross a process boundary: it has a serializer.
template <class T>
concept serializable = !requires { typename serializer<std::remove_cv_t<T>>::not_specialized; };

// Appends the encoding of values to a byte buffer.
//
// Format: native byte order and sizes, lengths as 64-bit counts, no
// versioning: both ends must be the same build (true for forked workers and
// for ranks of one MPI job). Not a storage or network format.
// Thread-safety: one writer per thread. Cost: amortized O(bytes).
class writer {
 public:
  explicit writer(std::vector<std::byte>& out) noexcept : out_(&out) {}

  void write_bytes(const void* data, std::size_t n) {
    if (n == 0) return;
    std::size_t at = out_->size();
    out_->resize(at + n);
    std::memcpy(out_->data() + at, data, n);
  }
  template <class T>
  void write(const T& value) {
    if constexpr (serializable<T>) serializer<std::remove_cv_t<T>>::write(*this, value);
    else detail::refuse_unserializable<std::remove_cv_t<T>>();  // one error, naming T and the fix
  }
  void write_size(std::size_t n) { write_bytes(&n, sizeof n); }

 private:
  std::vector<std::byte>* out_;
};

// Decodes values from a byte range; never reads out of bounds.
//
// Exceptions: weft::protocol_error when the input is truncated or
// corrupted (a length larger than what is left, an invalid tag); the reader
// is then unusable. Thread-safety: one reader per thread.
class reader {
 public:
  explicit reader(std::span<const std::byte> in) noexcept : in_(in) {}

  void read_bytes(void* out, std::size_t n) {
    if (n > remaining()) fail("truncated input");
    if (n != 0) std::memcpy(out, in_.data() + pos_, n);
    pos_ += n;
  }
  template <class T>
  T read() {
    if constexpr (serializable<T>) {
      return serializer<std::remove_cv_t<T>>::read(*this);
    } else {
      detail::refuse_unserializable<std::remove_cv_t<T>>();  // one error, naming T and the fix
      fail("unreachable");
    }
  }
  // A count of elements each at least `min_bytes` long; rejects counts the
  // remaining input cannot hold, so corrupt lengths never allocate. With
  // min_bytes 0 the input cannot bound the count: read the elements with
  // detail::read_elements, which does.
  std::size_t read_size(std::size_t min_bytes = 1) {
    std::size_t n = 0;
    read_bytes(&n, sizeof n);
    if (min_bytes != 0 && n > remaining() / min_bytes) fail("length exceeds the input");
    return n;
  }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  [[noreturn]] static void fail(const char* what) {
    throw protocol_error(std::string("weft::reader: ") + what);
  }

 private:
  template <class Element, class ReadOne>
  friend void detail::read_elements(reader&, std::size_t, ReadOne);

  // The bytes of decoded objects whose encodings took no input (a user's
  // serializer may write nothing) one message may produce: a count of such
  // elements is not bounded by the input, so a corrupt one would loop and
  // allocate for ever. 16 MiB is 16 Mi empty tags, far beyond a sane
  // message, and little memory.
  static constexpr std::size_t max_empty_bytes = std::size_t{16} << 20;
  void spend_on_empty(std::size_t object_bytes) {
    if (object_bytes > empty_budget_) fail("too many elements that take no bytes (over 16 MiB of them)");
    empty_budget_ -= object_bytes;
  }

  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  std::size_t empty_budget_ = max_empty_bytes;
};

// The encoding of `value` as a fresh byte vector.
template <class T>
std::vector<std::byte> serialize(const T& value) {
  std::vector<std::byte> out;
  writer(out).write(value);
  return out;
}
// Decodes a T that must use every byte of `bytes`; throws weft::protocol_error.
template <class T>
T deserialize(std::span<const std::byte> bytes) {
  reader r(bytes);
  T value = r.read<T>();
  if (r.remaining() != 0) reader::fail("trailing bytes after the value");
  return value;
}

// ---- built-in serializers ----

namespace detail {
template <class... Fields>
constexpr bool fields_serializable(std::type_identity<std::tuple<Fields...>>) {
  return (serializable<Fields> && ...);  // a reference field (int&) has no serializer
}
// An aggregate that travels field by field: its fields can be listed and
// each is serializable, and it is not copied as bytes (a field has a tag to
// validate, an owner of memory, or a user's serializer).
template <class T>
constexpr bool serialized_by_fields() {
  if constexpr (is_std_array<T> || !fields_listable<T> || bitwise_serializable<T>) {
    return false;
  } else {
    return fields_serializable(field_types_t<T>{});
  }
}

// Calls read_one() `n` times, `n` a count from the input, for elements
// decoded as Element. When an Element may encode to no bytes
// (min_wire_size 0), each that took none is charged to the reader's budget
// (reader::max_empty_bytes): a corrupt count of them throws protocol_error
// instead of looping for ever, while elements that do take bytes are bounded
// by the input as usual (a truncated input throws).
template <class Element, class ReadOne>
void read_elements(reader& r, std::size_t n, ReadOne read_one) {
  for (std::size_t i = 0; i < n; ++i) {
    [[maybe_unused]] std::size_t before = r.remaining();
    read_one();
    if constexpr (min_wire_size<Element>() == 0) {
      if (r.remaining() == before) r.spend_on_empty(sizeof(Element));
    }
  }
}

template <class T>
struct bytes_serializer {
  using builtin_bitwise = void;  // marks the built-in path (boundary_check.hpp checks fields)
  static void write(writer& w, const T& v) { w.write_bytes(&v, sizeof v); }
  static T read(reader& r) {
    T v;
    r.read_bytes(&v, sizeof v);
    return v;
  }
};
}  // namespace detail

template <>
struct serializer<bool> {
  static void write(writer& w, bool v) { w.write(static_cast<std::uint8_t>(v ? 1 : 0)); }
  static bool read(reader& r) {
    auto b = r.read<std::uint8_t>();
    if (b > 1) reader::fail("invalid bool");
    return b == 1;
  }
};

template <class C, class Tr, class A>
struct serializer<std::basic_string<C, Tr, A>> {
  static void write(writer& w, const std::basic_string<C, Tr, A>& s) {
    w.write_size(s.size());
    w.write_bytes(s.data(), s.size() * sizeof(C));
  }
  static std::basic_string<C, Tr, A> read(reader& r) {
    std::basic_string<C, Tr, A> s(r.read_size(sizeof(C)), C{});
    r.read_bytes(s.data(), s.size() * sizeof(C));
    return s;
  }
};

template <class T, class A>
struct serializer<std::vector<T, A>, std::enable_if_t<serializable<T>>> {
  static void write(writer& w, const std::vector<T, A>& v) {
    w.write_size(v.size());
    if constexpr (detail::builtin_bytes<T>) {
      w.write_bytes(v.data(), v.size() * sizeof(T));  // contiguous: one memcpy
    } else {
      // write<T>: vector<bool>'s element is a proxy class (libc++'s holds a pointer)
      for (const auto& e : v) w.write<T>(e);
    }
  }
  static std::vector<T, A> read(reader& r) {
    std::size_t n = r.read_size(detail::min_wire_size<T>());
    std::vector<T, A> v;
    if constexpr (detail::builtin_bytes<T>) {
      v.resize(n);
      r.read_bytes(v.data(), n * sizeof(T));
    } else {
      detail::reserve_bounded(v, n, r.remaining());
      detail::read_elements<T>(r, n, [&] { v.push_back(r.read<T>()); });
    }
    return v;
  }
};

template <class T, std::size_t N>
struct serializer<std::array<T, N>, std::enable_if_t<serializable<T> && !detail::bitwise_serializable<std::array<T, N>>>> {
  static void write(writer& w, const std::array<T, N>& a) {
    for (const auto& e : a) w.write(e);
  }
  static std::array<T, N> read(reader& r) {
    return read_all(r, std::make_index_sequence<N>{});
  }
  template <std::size_t... I>
  static std::array<T, N> read_all(reader& r, std::index_sequence<I...>) {
    return {{(static_cast<void>(I), r.read<T>())...}};  // braced: left to right
  }
};

template <class A, class B>
struct serializer<std::pair<A, B>, std::enable_if_t<serializable<A> && serializable<B> &&
                                                    !detail::bitwise_serializable<std::pair<A, B>>>> {
  static void write(writer& w, const std::pair<A, B>& p) {
    w.write(p.first);
    w.write(p.second);
  }
  static std::pair<A, B> read(reader& r) {
    A first = r.read<A>();
    return {std::move(first), r.read<B>()};
  }
};

template <class... Ts>
struct serializer<std::tuple<Ts...>, std::enable_if_t<(serializable<Ts> && ...) &&
                                                      !detail::bitwise_serializable<std::tuple<Ts...>>>> {
  static void write(writer& w, const std::tuple<Ts...>& t) {
    std::apply([&](const auto&... e) { (w.write(e), ...); }, t);
  }
  static std::tuple<Ts...> read(reader& r) {
    return std::tuple<Ts...>{r.read<Ts>()...};  // braced init: evaluated left to right
  }
};

template <class T>
struct serializer<std::optional<T>, std::enable_if_t<serializable<T>>> {
  static void write(writer& w, const std::optional<T>& o) {
    w.write(o.has_value());
    if (o) w.write(*o);
  }
  static std::optional<T> read(reader& r) {
    if (!r.read<bool>()) return std::nullopt;
    return r.read<T>();
  }
};

// std::map and std::unordered_map: the size, then key, value pairs.
template <class Map>
struct serializer<Map, std::enable_if_t<detail::is_map<Map> && serializable<typename Map::key_type> &&
                                        serializable<typename Map::mapped_type>>> {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  static void write(writer& w, const Map& m) {
    w.write_size(m.size());
    for (const auto& [k, v] : m) {
      w.write(k);
      w.write(v);
    }
  }
  static Map read(reader& r) {
    std::size_t n = r.read_size(detail::min_wire_size<K>() + detail::min_wire_size<V>());
    Map m;
    detail::read_elements<std::pair<K, V>>(r, n, [&] {
      K k = r.read<K>();
      m.insert_or_assign(std::move(k), r.read<V>());
    });
    return m;
  }
};

template <class... Ts>
struct serializer<std::variant<Ts...>, std::enable_if_t<(serializable<Ts> && ...)>> {
  using variant_t = std::variant<Ts...>;
  static void write(writer& w, const variant_t& v) {
    if (v.valueless_by_exception()) throw std::invalid_argument("weft::serializer: valueless variant");
    w.write(static_cast<std::uint32_t>(v.index()));
    std::visit([&](const auto& e) { w.write(e); }, v);
  }
  static variant_t read(reader& r) {
    auto index = r.read<std::uint32_t>();
    if (index >= sizeof...(Ts)) reader::fail("invalid variant index");
    return readers(std::index_sequence_for<Ts...>{})[index](r);
  }

 private:
  using read_fn = variant_t (*)(reader&);
  template <std::size_t I>
  static variant_t read_alternative(reader& r) {
    return variant_t(std::in_place_index<I>, r.read<std::variant_alternative_t<I, variant_t>>());
  }
  template <std::size_t... I>
  static constexpr std::array<read_fn, sizeof...(Ts)> readers(std::index_sequence<I...>) {
    return {&read_alternative<I>...};
  }
};

// Any other aggregate of serializable fields (detail/aggregate_fields.hpp),
// field by field in declaration order, as Python's pickle carries a
// record: struct stats { std::string path; long lines; };
namespace detail {
template <class T>
struct fields_serializer {
  using builtin_fields = void;  // marks the built-in path (boundary_check.hpp checks fields)
  static void write(writer& w, const T& value) {
    visit_fields(value, [&w](auto, const auto&... field) { (w.write(field), ...); });
  }
  static T read(reader& r) { return read_fields(r, field_types_t<T>{}); }

 private:
  // A bit-field is read as its declared type: -Wconversion would warn that
  // the value may not fit, but it was written from that very bit-field.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#endif
  template <class... Fields>
  static T read_fields(reader& r, std::type_identity<std::tuple<Fields...>>) {
    return T{r.read<std::remove_cv_t<Fields>>()...};  // braced: read left to right
  }
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
};
}  // namespace detail

}  // namespace weft

// The compile errors for a T that cannot be serialized are the process
// boundary's (detail::refuse_unserializable): one check, one set of messages.
#include <weft/detail/boundary_check.hpp>
