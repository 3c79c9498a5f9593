// weft — MIT licence. See LICENSE.
//
// <weft/weft.hpp> — every public weft header. Include single components
// (<weft/bounded_queue.hpp>, ...) to keep compile times down.
#pragma once

#include <weft/atomic_counter.hpp>
#include <weft/bounded_queue.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/rw_lock.hpp>
#include <weft/thread_pool.hpp>
