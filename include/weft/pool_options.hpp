// weft — MIT licence. See LICENSE.
//
// <weft/pool_options.hpp> — the vocabulary every weft pool shares: how many
// workers a workload wants (default_workers), how shutdown() treats
// unfinished tasks (shutdown_mode), how streaming maps cut and bound their
// input (map_options), and per-task options (task_options). Small on
// purpose: the process and MPI pools include it instead of all of
// <weft/thread_pool.hpp>.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <weft/detail/cpu_count.hpp>

#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <cstddef>

namespace weft {

// The kind of work a pool will run, for sizing it.
enum class workload { cpu, io, mixed };

// Workers for a workload, from the CPUs this process may use (affinity mask
// and cgroup quota): cpu -> cores, io -> cores x 5, mixed -> cores x 2 + 1.
inline std::size_t default_workers(workload kind = workload::cpu) {
  std::size_t cores = detail::usable_cpus();
  switch (kind) {
    case workload::cpu: return cores;
    case workload::io: return cores * 5;
    case workload::mixed: return cores * 2 + 1;
  }
  return cores;
}

// How shutdown() treats tasks that have not started, and running ones.
enum class shutdown_mode {
  drain,           // run every task already submitted, then stop
  cancel_pending,  // cancel tasks that have not started; finish running ones
  cancel_all,      // cancel_pending, and request stop of running tasks that take a
                   // std::stop_token (process pools: as cancel_pending)
};

// How imap / imap_unordered cut their input and bound their memory.
struct map_options {
  // Items per task (0: 1 for a thread pool; the process pools pick their own).
  std::size_t chunksize = 0;
  // Chunks in flight at most (0: 2 x the pool's workers): the input is read
  // only that far ahead of the results, so memory stays bounded even for an
  // unbounded input.
  std::size_t buffersize = 0;
};

// Per-task options of process_pool::submit_with.
struct task_options {
  // How long the task may run, in seconds like Python's timeout= (any
  // std::chrono duration converts: 500ms, 2s, 0.5s). 0 or infinite: no
  // limit; negative: std::invalid_argument. Counted from the moment a
  // worker starts the task, not from submission, as pebble does: time
  // spent queued behind other tasks is not the task's fault. Past it the
  // worker is killed and replaced, and the future throws weft::timeout.
  std::chrono::duration<double> timeout{0};
};

}  // namespace weft
