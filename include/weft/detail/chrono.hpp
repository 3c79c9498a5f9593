// weft — MIT licence. See LICENSE.
//
// <weft/detail/chrono.hpp> — internal: std::chrono's durations, time
// points, clocks, duration_cast/ceil and the chrono literals, without what
// weft never uses. Not API.
//
// libstdc++ 12's <chrono> in C++20 also brings the calendar, time zones
// and their stream formatting (<sstream>, the locale machinery): about a
// tenth of a second of compile time in every translation unit that
// includes a weft header (issue 24). Everything weft and its users need
// from a weft signature (duration, time_point, steady_clock, system_clock,
// the literals) is in <bits/chrono.h>, the part of <chrono> that libstdc++'s
// own <mutex>, <thread> and <condition_variable> include. Other standard
// libraries get <chrono>.
#pragma once

#include <version>  // defines __GLIBCXX__ with libstdc++

#if defined(__GLIBCXX__) && __has_include(<bits/chrono.h>)
#include <bits/chrono.h>
#else
#include <chrono>
#endif
