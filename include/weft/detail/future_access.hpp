// weft — MIT licence. See LICENSE.
//
// <weft/detail/future_access.hpp> — internal: the passkey through which pools
// make weft::future objects and waits reach their states. Not API.
#pragma once

#include <weft/detail/shared_state.hpp>

#include <future>

namespace weft {
template <class T>
class future;
}  // namespace weft

namespace weft::detail {

// std::future_error(no_state) with a message that says how it happens.
class no_state_error : public std::future_error {
 public:
  no_state_error() : std::future_error(std::future_errc::no_state) {}
  const char* what() const noexcept override {
    return "weft::future: no state: the result was already taken by get(), or the future was moved "
           "from or default-constructed";
  }
};

// The passkey to future's private constructor from a state and to its state:
// pools make futures, and waits read their states, through it.
struct future_access {
  template <class T>
  static future<T> make(shared_state<T>* state) noexcept { return future<T>(state); }
  template <class T>
  static shared_state<T>* state(const future<T>& f) noexcept { return f.state(); }
};

}  // namespace weft::detail
