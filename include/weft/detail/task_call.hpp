// weft — MIT licence. See LICENSE.
//
// <weft/detail/task_call.hpp> — internal: what submit(f, args...) calls: f(token, args...) or
// f(args...). Not API.
#pragma once

#include <weft/detail/config.hpp>  // WEFT_HAS_STOP_TOKEN

#include <type_traits>
#if defined(WEFT_HAS_STOP_TOKEN)
#include <stop_token>
#endif

namespace weft::detail {

// What submit(f, args...) runs: f(token, args...) when f takes the task's
// std::stop_token first, else f(args...).
template <class F, class... Args>
struct task_call {
#if defined(WEFT_HAS_STOP_TOKEN)
  static constexpr bool with_token = std::is_invocable_v<F, std::stop_token, Args...>;
#else
  static constexpr bool with_token = false;
#endif
  template <bool Token, class = void>
  struct result {
    using type = std::invoke_result_t<F, Args...>;
  };
#if defined(WEFT_HAS_STOP_TOKEN)
  template <class Void>
  struct result<true, Void> {
    using type = std::invoke_result_t<F, std::stop_token, Args...>;
  };
#endif
  using result_type = typename result<with_token>::type;
};
template <class F, class... Args>
using task_result_t = typename task_call<std::decay_t<F>, std::decay_t<Args>...>::result_type;

}  // namespace weft::detail
