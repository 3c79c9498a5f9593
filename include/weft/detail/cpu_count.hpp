// weft — MIT licence. See LICENSE.
//
// <weft/detail/cpu_count.hpp> — internal: how many CPUs this process may
// really use: the affinity mask and the cgroup CPU quota, not just
// std::thread::hardware_concurrency(). Not API.
#pragma once

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace weft::detail {

// The first `limit` bytes of a small file (a /proc or /sys entry), "" when
// it cannot be read. <cstdio>, not <fstream>: every translation unit that
// includes a pool pays for what this header includes.
inline std::string read_small_file(const std::string& path, std::size_t limit = 64 * 1024) {
  std::string text;
  if (std::FILE* f = std::fopen(path.c_str(), "r")) {
    char chunk[512];
    std::size_t got = 0;
    while (text.size() < limit && (got = std::fread(chunk, 1, sizeof chunk, f)) > 0) text.append(chunk, got);
    std::fclose(f);
  }
  return text;
}

// The numbers at the start of a file ("max 100000" reads as one token that
// is not a number: returns false), as in `cpu.max` or `cpu.cfs_quota_us`.
inline bool read_numbers(const std::string& path, double& first, double* second = nullptr) {
  std::string text = read_small_file(path, 256);
  const char* p = text.c_str();
  char* end = nullptr;
  first = std::strtod(p, &end);
  if (end == p) return false;
  if (second == nullptr) return true;
  p = end;
  *second = std::strtod(p, &end);
  return end != p;
}

// CPUs allowed by a quota of `quota` over `period`, rounded up; 0 for none.
inline std::size_t cpus_of_quota(double quota, double period) noexcept {
  if (quota <= 0 || period <= 0) return 0;
  double cpus = quota / period;
  auto whole = static_cast<std::size_t>(cpus);
  return whole + (static_cast<double>(whole) < cpus ? 1 : 0);
}

// The tightest CPU quota on the way from the process's cgroup up to the
// root: a quota set on a nested cgroup (systemd's CPUQuota=, a container
// inside a slice) binds as much as one at the root. v2 reads `cpu.max`;
// v1 reads `cpu.cfs_quota_us` / `cpu.cfs_period_us` under the cpu
// controller's mount. 0 when no quota applies or none can be read.
// `fs_root` and `self_cgroup` are parameters for tests.
inline std::size_t cgroup_cpu_limit(const std::string& fs_root = "/sys/fs/cgroup",
                                    const std::string& self_cgroup = "/proc/self/cgroup") {
#if defined(__linux__)
  std::string v2_path, v1_path;
  {
    std::string table = read_small_file(self_cgroup);
    for (std::size_t start = 0, end = 0; start < table.size(); start = end + 1) {
      end = table.find('\n', start);
      if (end == std::string::npos) end = table.size();
      std::string line = table.substr(start, end - start);
      // hierarchy-id:controllers:path
      auto first = line.find(':');
      auto second = line.find(':', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      std::string controllers = line.substr(first + 1, second - first - 1);
      std::string path = line.substr(second + 1);
      if (line.compare(0, first, "0") == 0 && controllers.empty()) v2_path = path;
      std::string padded = "," + controllers + ",";
      if (padded.find(",cpu,") != std::string::npos) v1_path = path;
    }
  }
  std::size_t best = 0;
  auto tighten = [&best](std::size_t limit) {
    if (limit != 0 && (best == 0 || limit < best)) best = limit;
  };
  // Visits `path` and each of its ancestors, root last.
  auto for_each_level = [](std::string path, auto visit) {
    for (;;) {
      visit(path == "/" ? std::string() : path);
      if (path.empty() || path == "/") return;
      auto cut = path.find_last_of('/');
      path = cut == 0 || cut == std::string::npos ? "/" : path.substr(0, cut);
    }
  };
  for_each_level(v2_path.empty() ? "/" : v2_path, [&](const std::string& level) {
    double quota = 0, period = 0;  // "max 100000" (no quota) does not parse as numbers
    if (read_numbers(fs_root + level + "/cpu.max", quota, &period)) tighten(cpus_of_quota(quota, period));
  });
  for (const char* mount : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"}) {
    for_each_level(v1_path.empty() ? "/" : v1_path, [&](const std::string& level) {
      double quota = 0, period = 0;
      if (read_numbers(fs_root + mount + level + "/cpu.cfs_quota_us", quota) &&
          read_numbers(fs_root + mount + level + "/cpu.cfs_period_us", period))
        tighten(cpus_of_quota(quota, period));
    });
  }
  return best;
#else
  (void)fs_root;
  (void)self_cgroup;
  return 0;
#endif
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
