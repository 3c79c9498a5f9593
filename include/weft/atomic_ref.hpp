// weft — MIT licence. See LICENSE.
//
// <weft/atomic_ref.hpp> — weft::atomic_ref<T>: std::atomic_ref<T> where the
// standard library has it, and a compatible subset where it does not
// (libc++ 14 and Apple's libc++ of that age ship no std::atomic_ref).
// shared_array::atomic() and shared_value return it.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <atomic>
#include <cstddef>
#include <type_traits>

namespace weft {

#if defined(__cpp_lib_atomic_ref) && !defined(WEFT_ATOMIC_REF_FALLBACK)  // the macro: tests of the fallback

template <class T>
using atomic_ref = std::atomic_ref<T>;

#elif defined(__GNUC__) || defined(__clang__)

// Atomic operations on an object it does not own, like std::atomic_ref:
// load, store, exchange, compare_exchange_weak/strong and, for arithmetic T,
// fetch_add/fetch_sub (a compare-exchange loop for floating point), all
// sequentially consistent. Built on the compilers' __atomic builtins, which
// are lock-free for the sizes weft's shared memory uses (static_assert).
//
// Thread-safety: as std::atomic_ref: every access to the object while any
//   atomic_ref to it exists must go through an atomic_ref.
// Lifetime: the object must outlive the reference.
template <class T>
class atomic_ref {
  static_assert(std::is_trivially_copyable_v<T>, "weft::atomic_ref<T>: T must be trivially copyable");

 public:
  static constexpr std::size_t required_alignment = sizeof(T) > alignof(T) ? sizeof(T) : alignof(T);
  static constexpr bool is_always_lock_free = __atomic_always_lock_free(sizeof(T), 0);
  static_assert(is_always_lock_free,
                "weft::atomic_ref<T>: T is not lock-free here; shared memory needs address-free atomics");

  explicit atomic_ref(T& object) noexcept : object_(&object) {}

  T load() const noexcept {
    T out;
    __atomic_load(object_, &out, __ATOMIC_SEQ_CST);
    return out;
  }
  void store(T desired) const noexcept { __atomic_store(object_, &desired, __ATOMIC_SEQ_CST); }
  T exchange(T desired) const noexcept {
    T out;
    __atomic_exchange(object_, &desired, &out, __ATOMIC_SEQ_CST);
    return out;
  }
  bool compare_exchange_weak(T& expected, T desired) const noexcept {
    return __atomic_compare_exchange(object_, &expected, &desired, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  }
  bool compare_exchange_strong(T& expected, T desired) const noexcept {
    return __atomic_compare_exchange(object_, &expected, &desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  }
  T fetch_add(T d) const noexcept
    requires std::is_arithmetic_v<T>
  {
    if constexpr (std::is_integral_v<T>) {
      return __atomic_fetch_add(object_, d, __ATOMIC_SEQ_CST);
    } else {
      T old = load();
      while (!compare_exchange_weak(old, static_cast<T>(old + d))) {
      }
      return old;
    }
  }
  T fetch_sub(T d) const noexcept
    requires std::is_arithmetic_v<T>
  {
    if constexpr (std::is_integral_v<T>) {
      return __atomic_fetch_sub(object_, d, __ATOMIC_SEQ_CST);
    } else {
      return fetch_add(static_cast<T>(-d));
    }
  }

 private:
  T* object_;
};

#else
#error "<weft/atomic_ref.hpp>: this standard library has no std::atomic_ref and the compiler no __atomic builtins"
#endif

}  // namespace weft
