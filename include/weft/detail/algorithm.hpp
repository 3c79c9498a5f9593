// weft — MIT licence. See LICENSE.
//
// <weft/detail/algorithm.hpp> — internal: the classic algorithms weft uses
// (std::sort, min/max, clamp, find, any_of, count_if...), without the
// std::ranges algorithms. Not API.
//
// libstdc++ 12's <algorithm> in C++20 also brings <bits/ranges_algo.h>,
// the std::ranges algorithms, which weft never calls (it uses
// std::ranges::begin/end/size and the range concepts, which come with
// <iterator>): a few hundredths of a second of compile time in every
// translation unit that includes a weft header (issue 24). The classic
// algorithms are in <bits/stl_algo.h>, which libstdc++'s own <functional>
// includes. Other standard libraries get <algorithm>.
#pragma once

#include <version>  // defines __GLIBCXX__ with libstdc++

// libstdc++'s parallel mode (_GLIBCXX_PARALLEL) only declares the
// algorithms in <bits/stl_algo.h>; <algorithm> brings their definitions.
#if defined(__GLIBCXX__) && !defined(_GLIBCXX_PARALLEL) && __has_include(<bits/stl_algo.h>)
#include <bits/stl_algo.h>
#else
#include <algorithm>
#endif
