// weft — MIT licence. See LICENSE.
//
// <weft/weft.hpp> — every public weft header (the POSIX-only ones on POSIX
// systems). Include single components (<weft/bounded_queue.hpp>, ...) to keep
// compile times down.
#pragma once

#include <weft/atomic_counter.hpp>
#include <weft/atomic_ref.hpp>
#include <weft/bounded_queue.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/progress.hpp>
#include <weft/rw_lock.hpp>
#include <weft/serialize.hpp>
#include <weft/task.hpp>
#include <weft/thread_pool.hpp>

#if defined(__unix__) || defined(__APPLE__)  // POSIX-only components
#include <weft/compare.hpp>
#include <weft/process_pool.hpp>
#include <weft/shared_memory.hpp>
#include <weft/shared_queue.hpp>
#endif
