// weft — MIT licence. See LICENSE.
//
// <weft/detail/initialize.hpp> — internal: builds the T of a queue's
// emplace(args...) as T(args...) when T has such a constructor, else as
// T{args...}: an aggregate, which clang before 16 cannot initialize with
// parentheses (P0960). Where the compiler can, T(args...) is always used,
// so nothing changes there (a narrowing argument still compiles). Not API.
#pragma once

#include <new>
#include <type_traits>
#include <utility>

namespace weft::detail {

// Braces only for an aggregate: a class with an initializer_list
// constructor (std::vector<int> from 1, 2, 3) would otherwise take a list
// where its constructors refused the arguments.
template <class T, class... Args>
inline constexpr bool braced_only = std::is_aggregate_v<T> && !std::is_constructible_v<T, Args...>;

// True when building a T from Args cannot throw. Arguments the braces
// refuse (a narrowing one) answer false here, so that initialize() gives
// the one error.
template <class T, class... Args>
constexpr bool nothrow_initializable() {
  if constexpr (braced_only<T, Args...>) {
    if constexpr (requires { T{std::declval<Args>()...}; }) {
      return noexcept(T{std::declval<Args>()...});
    } else {
      return false;
    }
  } else {
    return std::is_nothrow_constructible_v<T, Args...>;
  }
}

template <class T, class... Args>
T initialize(Args&&... args) {
  if constexpr (braced_only<T, Args&&...>) {
    return T{std::forward<Args>(args)...};
  } else {
    return T(std::forward<Args>(args)...);
  }
}

// initialize() in place, at `where` (raw storage for a T).
template <class T, class... Args>
T* initialize_at(void* where, Args&&... args) {
  if constexpr (braced_only<T, Args&&...>) {
    return ::new (where) T{std::forward<Args>(args)...};
  } else {
    return ::new (where) T(std::forward<Args>(args)...);
  }
}

}  // namespace weft::detail
