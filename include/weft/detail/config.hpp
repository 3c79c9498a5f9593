// weft — MIT licence. See LICENSE.
//
// <weft/detail/config.hpp> — internal: assertions, feature macros,
// cache-line constants, CPU relax hint. Not API.
#pragma once

// weft is C++20. Every public header includes this file first, so an older
// -std gives this one message (and the fatal missing "header" after it,
// which stops the compiler before hundreds of follow-on errors).
#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define WEFT_CPLUSPLUS _MSVC_LANG
#else
#define WEFT_CPLUSPLUS __cplusplus
#endif
#if WEFT_CPLUSPLUS < 202002L
#error "weft needs C++20: compile with -std=c++20 (MSVC: /std:c++20), or link weft::weft in CMake, which requires cxx_std_20"
#include <weft_needs_cpp20__compile_with_-std=c++20>  // missing on purpose: a fatal error ends the compilation here
#endif

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <version>

// std::stop_token and std::jthread (libc++ 14 has neither): tasks taking a
// stop token first, future::request_stop and cancel_all's stop requests.
#if defined(__cpp_lib_jthread)
#define WEFT_HAS_STOP_TOKEN 1
#endif

// WEFT_ASSERT checks internal transition invariants. It is on in Debug builds
// and in every weft test build (WEFT_ENABLE_ASSERTS), off in Release.
#if !defined(NDEBUG) || defined(WEFT_ENABLE_ASSERTS)
#define WEFT_ASSERTS_ON 1
#define WEFT_ASSERT(cond, msg)                                                            \
  ((cond) ? static_cast<void>(0)                                                          \
          : ::weft::detail::assertion_failed(#cond, msg, __FILE__, __LINE__))
#else
#define WEFT_ASSERTS_ON 0
#define WEFT_ASSERT(cond, msg) static_cast<void>(0)
#endif

// The pause instruction comes from a compiler builtin, not <immintrin.h>:
// that header declares every SIMD intrinsic and costs each including
// translation unit as much as <thread> does.
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#endif

namespace weft::detail {

[[noreturn]] inline void assertion_failed(const char* cond, const char* msg,
                                          const char* file, int line) noexcept {
  std::fprintf(stderr, "weft: invariant violated at %s:%d: %s (%s)\n", file, line, msg, cond);
  std::abort();
}

// Destructive-interference distance. std::hardware_destructive_interference_size
// is 64 on x86-64 but the adjacent-line prefetcher pulls pairs of lines, so
// contended words are kept 128 bytes apart (as oneTBB and folly do).
inline constexpr std::size_t cache_line = 64;
inline constexpr std::size_t false_sharing_range = 128;

// Tells the CPU we are spinning (saves power, frees the sibling hyperthread).
inline void cpu_relax() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_ia32_pause();
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// A value alone in its false-sharing range.
template <class T>
struct alignas(false_sharing_range) padded {
  T value{};
};

}  // namespace weft::detail
