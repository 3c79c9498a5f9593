// weft — MIT licence. See LICENSE.
//
// <weft/detail/cpu_count.hpp> — internal: how many CPUs this process may
// really use: the affinity mask and the cgroup CPU quota, not just
// std::thread::hardware_concurrency(). Not API.
#pragma once

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace weft::detail {

// CPUs allowed by a cgroup quota (v2 `cpu.max`, else v1 cfs files), rounded
// up; 0 when there is no quota or it cannot be read.
inline std::size_t cgroup_cpu_limit() {
#if defined(__linux__)
  auto ceil_div = [](double quota, double period) -> std::size_t {
    if (quota <= 0 || period <= 0) return 0;
    double cpus = quota / period;
    auto whole = static_cast<std::size_t>(cpus);
    return whole + (static_cast<double>(whole) < cpus ? 1 : 0);
  };
  {
    std::ifstream v2("/sys/fs/cgroup/cpu.max");
    std::string quota;
    double period = 0;
    if (v2 >> quota >> period) return quota == "max" ? 0 : ceil_div(std::stod(quota), period);
  }
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (q >> quota && p >> period) return ceil_div(quota, period);
#endif
  return 0;
}

// CPUs this process may run on (at least 1).
inline std::size_t usable_cpus() {
  std::size_t n = std::thread::hardware_concurrency();
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = static_cast<std::size_t>(CPU_COUNT(&set));
#endif
  if (std::size_t limit = cgroup_cpu_limit(); limit != 0) n = std::min(n, limit);
  return std::max<std::size_t>(n, 1);
}

}  // namespace weft::detail
