// weft — MIT licence. See LICENSE.
//
// <weft/detail/stack_bounds.hpp> — internal: how much of the calling
// thread's stack is left, so that a waiting worker stops running nested
// tasks long before the stack overflows. Not API.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace weft::detail {

// The lowest address the calling thread may grow its stack to while still
// keeping `reserve_fraction` of the stack free; 0 when unknown (the caller
// then relies on a depth limit alone). Stacks grow down on every platform
// weft supports.
inline std::uintptr_t stack_soft_limit(std::size_t reserve_fraction_denominator = 4) noexcept {
#if defined(__linux__)
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  void* low = nullptr;
  std::size_t size = 0;
  int rc = pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0 || low == nullptr || size == 0) return 0;
  return reinterpret_cast<std::uintptr_t>(low) + size / reserve_fraction_denominator;
#elif defined(__APPLE__)
  auto* high = static_cast<char*>(pthread_get_stackaddr_np(pthread_self()));
  std::size_t size = pthread_get_stacksize_np(pthread_self());
  return reinterpret_cast<std::uintptr_t>(high - size) + size / reserve_fraction_denominator;
#else
  (void)reserve_fraction_denominator;
  return 0;
#endif
}

// An address inside the caller's current stack frame (0 where unknown).
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_CURRENT_STACK_ADDRESS() reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0))
#else
#define WEFT_CURRENT_STACK_ADDRESS() std::uintptr_t{0}
#endif

}  // namespace weft::detail
