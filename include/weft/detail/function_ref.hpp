// weft — MIT licence. See LICENSE.
//
// <weft/detail/function_ref.hpp> — internal: a non-owning reference to a
// callable (the shape of C++26's std::function_ref), for passing a wait's
// predicate and sleep step through a virtual call without allocating. Not API.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace weft::detail {

template <class Signature>
class function_ref;

template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  // Refers to f, which must outlive every call through this reference.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref> && std::is_invocable_r_v<R, F&, Args...>)
  function_ref(F&& f) noexcept  // NOLINT: implicit, like std::function_ref
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace weft::detail
