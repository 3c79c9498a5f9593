// weft — MIT licence. See LICENSE.
//
// <weft/detail/function.hpp> — internal: std::function, and std::invoke's
// behaviour as detail::invoke, without the rest of <functional>. Not API.
//
// libstdc++'s <functional> also brings std::bind, the searchers and, for
// them, <unordered_map>: a few hundredths of a second of compile time in
// every translation unit that includes <weft/thread_pool.hpp> (issue 24).
// std::function is in <bits/std_function.h>, which libstdc++'s own
// <future> includes. Other standard libraries get <functional>.
#pragma once

#include <version>  // defines __GLIBCXX__ with libstdc++

#if defined(__GLIBCXX__) && __has_include(<bits/std_function.h>)
#include <bits/std_function.h>
#else
#include <functional>
#endif
#include <tuple>
#include <utility>

namespace weft::detail {

// std::invoke(f, args...): std::apply is specified as INVOKE over the
// tuple's elements, and forward_as_tuple passes each argument on with its
// value category (pointers to members and reference_wrapper included).
// A function object, not a function: argument-dependent lookup ignores
// objects, and it would otherwise search weft::detail for any weft pool
// (their bases live here), so a user's `using std::invoke; invoke(f, pool);`
// was ambiguous.
struct invoke_fn {
  template <class F, class... Args>
  constexpr decltype(auto) operator()(F&& f, Args&&... args) const {
    return std::apply(std::forward<F>(f), std::forward_as_tuple(std::forward<Args>(args)...));
  }
};
inline constexpr invoke_fn invoke{};

}  // namespace weft::detail
