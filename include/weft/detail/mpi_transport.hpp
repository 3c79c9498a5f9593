// weft — MIT licence. See LICENSE.
//
// <weft/detail/mpi_transport.hpp> — internal: mpi_pool's transport. Not API.
//
// How mpi_pool's messages travel: one MPI message per task (task_tag, rank
// 0 -> worker) and per reply (result_tag, worker -> rank 0), an empty
// stop_tag message to release a worker; and what a singleton needs to
// spawn copies of itself (its executable and arguments). Needs <mpi.h>.
#pragma once

#include <weft/detail/cpu_count.hpp>  // read_small_file

#include <climits>
#include <cstddef>
#include <string>
#include <vector>

#include <mpi.h>
#include <unistd.h>

namespace weft::detail {

// Message tags on the pool's communicator.
inline constexpr int mpi_task_tag = 1, mpi_result_tag = 2, mpi_stop_tag = 3;

// The largest message MPI's int counts can describe.
inline constexpr std::size_t mpi_max_message = static_cast<std::size_t>(INT_MAX);

// Its code word is compared across ranks at start-up, beside the build's
// identity: equal words mean the same images are loaded in the same order.
inline void mpi_pool_probe() {}

// This process's command line (/proc/self/cmdline, NUL-terminated
// arguments): the arguments spawned workers get, so that code before the
// pool runs there as it ran here. Empty if it cannot be read.
inline std::vector<std::string> own_arguments() {
  const std::string text = read_small_file("/proc/self/cmdline", std::size_t{4} << 20);  // ARG_MAX is 2 MiB
  std::vector<std::string> args;
  for (std::size_t start = 0, end; (end = text.find('\0', start)) != std::string::npos; start = end + 1)
    args.push_back(text.substr(start, end - start));
  return args;
}

// The path of this program's executable (resolved here: a launcher that
// execs "/proc/self/exe" would run itself).
inline std::string own_executable() {
  std::string path(4096, '\0');
  ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size());
  path.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return path;
}

// Receives one waiting message matching (source, tag) into `into`, if any
// (its capacity is kept between calls). Matched probe + receive: no other
// receive can take the message between.
inline bool mpi_try_receive(MPI_Comm comm, int source, int tag, std::vector<std::byte>& into, MPI_Status& status) {
  int arrived = 0;
  MPI_Message message;
  MPI_Improbe(source, tag, comm, &arrived, &message, &status);
  if (!arrived) return false;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  into.resize(static_cast<std::size_t>(count));
  MPI_Mrecv(into.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE);
  return true;
}

}  // namespace weft::detail
