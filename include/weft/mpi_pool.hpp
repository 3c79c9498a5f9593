// weft — MIT licence. See LICENSE.
//
// <weft/mpi_pool.hpp> — the process_pool API across the ranks of an MPI job
// (the C++ counterpart of mpi4py.futures.MPIPoolExecutor). Optional: needs an
// MPI library (link MPI::MPI_CXX) and Linux's dl_iterate_phdr.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <weft/detail/code_address.hpp>
#include <weft/detail/mpi_transport.hpp>
#include <weft/detail/remote_pool_core.hpp>
#include <weft/detail/remote_task.hpp>
#include <weft/detail/wait.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>  // shutdown_mode, default_workers

#include <weft/detail/algorithm.hpp>  // <algorithm> without the std::ranges algorithms
#include <atomic>
#include <weft/detail/chrono.hpp>  // <chrono> without the calendar and its formatting
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <mpi.h>

namespace weft {

struct mpi_pool_options {
  // Worker ranks to spawn when the program was started without mpirun (a
  // singleton); ignored under mpirun, where the job's ranks serve.
  std::size_t workers = default_workers(workload::cpu);
};

// Runs functions on the other ranks of an MPI job and returns weft::future,
// with process_pool's API: code moves between the two by changing the type.
//
// Start-up (SPMD): run the program with `mpirun -np N ./app`, N >= 2. Every
//   rank constructs the pool (collective). On rank 0 the constructor returns
//   and rank 0 submits; on ranks 1..N-1 it never returns: they serve tasks
//   until rank 0 shuts the pool down, then finalize MPI and exit(0). Code
//   before the constructor runs on every rank, like set-up before a fork.
//   One pool per job. If MPI is not initialized, the pool initializes it
//   (requesting MPI_THREAD_MULTIPLE, needing at least SERIALIZED) and
//   finalizes it in shutdown(); call shutdown() or destroy the pool on the
//   thread that constructed it.
// Without mpirun (`./app`, an MPI singleton), the constructor spawns
//   options.workers ranks of the same program (the executable behind
//   /proc/self/exe, same arguments) with MPI_Comm_spawn, as mpi4py.futures.MPIPoolExecutor does:
//   they run main() from the start and serve inside their constructor.
//   Open MPI run as root needs OMPI_ALLOW_RUN_AS_ROOT=1 and
//   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the environment.
// What can be submitted: as for process_pool (a function pointer or a
//   trivially copyable callable; serializable arguments and result). The
//   function crosses ranks as an offset into its loaded image, never as a
//   raw address; the constructor aborts the job if the ranks' binaries differ.
// Thread-safety: submit/map/pending/size from any thread; one background
//   thread on rank 0 makes every MPI call while the pool runs (other MPI use
//   on rank 0 meanwhile needs MPI_THREAD_MULTIPLE).
// Blocking: submit() never blocks; map() and shutdown() do. Idle ranks poll
//   MPI with a short yield phase, then sleeps of up to 1 ms: no core spins.
// Exceptions: a task's exception arrives as weft::remote_error. A rank that
//   dies ends the whole job (MPI without ULFM cannot survive it): mpirun
//   reports the rank and signal and stops every process. pool_closed after
//   shutdown(); std::invalid_argument with fewer than 2 ranks (a singleton
//   asked for 0 workers); weft::error when spawning fails. shutdown() in a
//   done callback (they run on the progress thread) throws std::logic_error.
// Maps: map(), imap() and imap_unordered() (Python's Pool.map, imap,
//   imap_unordered) are inherited from detail::remote_maps (through
//   detail::remote_pool_core, the client side both remote pools share), one
//   definition for both; their contracts are written there.
// Ordering: map() keeps input order; tasks start in submission order.
// Cost: per task one MPI message each way; map() sends chunks.
class mpi_pool : public detail::remote_pool_core<mpi_pool> {
 public:
  mpi_pool() : mpi_pool(mpi_pool_options{}) {}
  explicit mpi_pool(mpi_pool_options options);
  ~mpi_pool();
  mpi_pool(const mpi_pool&) = delete;
  mpi_pool& operator=(const mpi_pool&) = delete;

  template <class F, class... Args>
  auto submit(F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>>;

  // Stops accepting tasks, runs (drain) or cancels (cancel_pending,
  // cancel_all) the ones not yet sent, waits for the running ones, then
  // releases the worker ranks. Idempotent.
  void shutdown(shutdown_mode mode = shutdown_mode::drain);

  // Worker ranks (the job's size minus one).
  std::size_t size() const noexcept { return workers_.size(); }
  // Tasks submitted and not yet started by a worker rank (snapshot), as
  // thread_pool::pending(): queued on rank 0, or sent to a rank and waiting
  // behind the task it runs. Cancelled ones count until the progress thread
  // discards them. Thread-safe; O(1).
  std::size_t pending() const noexcept { return waiting(); }

 private:
  friend class detail::remote_maps<mpi_pool>;       // map, imap, imap_unordered
  friend class detail::remote_pool_core<mpi_pool>;  // the transport hooks below
  struct worker : detail::remote_peer {  // running, front_since: see remote_peer
    explicit worker(int r) : rank(r) {}
    int rank;
  };
  using peer = worker;
  static inline std::atomic<bool> constructed_{false};

  // Transport hooks (remote_pool_core).
  static bool accepts_tasks(const worker&, std::size_t) noexcept { return true; }  // a rank serves from the start
  bool send_task(worker& w, task& t);
  void wake_dispatcher();
  static constexpr std::size_t held_payload_max = SIZE_MAX;  // nothing is taken back from a rank

  void start_mpi(const mpi_pool_options& options);
  void join_or_spawn_workers(const mpi_pool_options& options);
  void check_same_binary();
  [[noreturn]] void serve();
  void progress_main();
  bool receive_results();
  void sleep_unless_woken(std::chrono::microseconds d);
  void end_mpi();

  bool owns_mpi_ = false;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  detail::image_table images_;

  std::mutex wake_mutex_;  // guards woken_
  std::condition_variable wake_;
  bool woken_ = false;     // submit()/shutdown() -> the progress thread's sleep

  // Rank 0's progress thread only (size() reads workers_' length, fixed
  // before the thread starts):
  std::vector<worker> workers_;
  std::vector<std::byte> reply_;  // the last reply received; its capacity is kept
};

// ---- implementation ----

inline mpi_pool::mpi_pool(mpi_pool_options options) : remote_pool_core("weft::mpi_pool") {
  if (constructed_.exchange(true))
    throw std::logic_error("weft::mpi_pool: one pool per MPI job (the worker ranks serve the first and exit with it)");
  start_mpi(options);
  images_ = detail::image_table::current();
  check_same_binary();
  if (rank_ != 0) serve();
  int ranks = 0;
  MPI_Comm_size(comm_, &ranks);
  for (int r = 1; r < ranks; ++r) workers_.emplace_back(r);
  start_dispatcher([this] { progress_main(); });
}

inline void mpi_pool::start_mpi(const mpi_pool_options& options) {
  int initialized = 0, provided = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    MPI_Query_thread(&provided);
  } else {
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    owns_mpi_ = true;
  }
  // Same on every rank, so every rank throws alike.
  if (provided < MPI_THREAD_SERIALIZED) {
    if (owns_mpi_) MPI_Finalize();
    throw error("weft::mpi_pool: the MPI library gives thread level " + std::to_string(provided) +
                "; the pool's progress thread needs MPI_THREAD_SERIALIZED or better");
  }
  join_or_spawn_workers(options);
  int ranks = 0;
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &ranks);
  if (ranks < 2) {
    end_mpi();
    throw std::invalid_argument(
        "weft::mpi_pool: needs at least 2 MPI ranks (rank 0 submits, the others serve); start with mpirun -np N, N >= 2");
  }
}

// comm_: rank 0 submits, the others serve. Under mpirun, a copy of the
// job's world (our tags never meet the application's messages). A spawned
// worker merges with its parent; a singleton spawns its workers and merges
// with them, first (high = 0), so that it is rank 0.
inline void mpi_pool::join_or_spawn_workers(const mpi_pool_options& options) {
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  if (parent != MPI_COMM_NULL) {
    MPI_Intercomm_merge(parent, 1, &comm_);
    return;
  }
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world > 1 || options.workers == 0) {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);  // too few ranks is reported by the caller
    return;
  }
  const std::vector<std::string> args = detail::own_arguments();
  std::vector<char*> argv;
  for (std::size_t i = 1; i < args.size(); ++i) argv.push_back(const_cast<char*>(args[i].c_str()));
  argv.push_back(nullptr);
  const auto count = static_cast<int>(std::min<std::size_t>(options.workers, INT_MAX));
  std::vector<int> errors(static_cast<std::size_t>(count), MPI_SUCCESS);
  // Open MPI counts this process as one of the cores' slots and refuses to
  // start more ranks than slots: the workers may share the cores with us
  // (other MPI libraries ignore the key).
  MPI_Info info = MPI_INFO_NULL;
  MPI_Info_create(&info);
  MPI_Info_set(info, "map_by", "slot:OVERSUBSCRIBE");
  MPI_Comm children = MPI_COMM_NULL;
  std::string program = detail::own_executable();  // the launcher would read its own /proc/self/exe
  int rc = MPI_Comm_spawn(program.c_str(), argv.data(), count, info, 0, MPI_COMM_SELF, &children,
                          errors.data());
  MPI_Info_free(&info);
  if (rc != MPI_SUCCESS || children == MPI_COMM_NULL) {
    end_mpi();
    throw error("weft::mpi_pool: MPI_Comm_spawn of " + std::to_string(count) +
                " workers failed (as root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT=1 and "
                "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; or start the program with mpirun -np N)");
  }
  MPI_Intercomm_merge(children, 0, &comm_);
  MPI_Comm_free(&children);
}

// Every rank must run rank 0's build (its ELF build-id, or a hash of its
// code: detail::image_identity) with the same images loaded in the same
// order (the probe's code word): code words name functions across ranks.
inline void mpi_pool::check_same_binary() {
  auto probe = images_.encode(reinterpret_cast<std::uintptr_t>(&detail::mpi_pool_probe));
  const std::string mine =
      detail::image_identity() + " probe:" + std::to_string(probe ? *probe : ~std::uint64_t{0});
  std::string root = mine;
  std::uint64_t length = root.size();
  MPI_Bcast(&length, 1, MPI_UINT64_T, 0, comm_);
  root.resize(static_cast<std::size_t>(length));  // a few dozen bytes: fits an int count
  MPI_Bcast(root.data(), static_cast<int>(length), MPI_CHAR, 0, comm_);
  if (root != mine) {
    std::fprintf(stderr,
                 "weft::mpi_pool: rank %d does not run the same binary (or the same libraries) as rank 0 "
                 "(rank 0: %s; rank %d: %s); functions cannot be sent between them. Aborting the job.\n",
                 rank_, root.c_str(), rank_, mine.c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

// A worker rank: receive a task, run it, send the reply; until told to stop.
inline void mpi_pool::serve() {
  auto decode = [](const void* images, std::uint64_t word) {
    auto address = static_cast<const detail::image_table*>(images)->decode(word);
    if (!address) reader::fail("weft::mpi_pool: a code word that names no code in this binary");
    return *address;
  };
  const detail::code_resolver code{decode, &images_};
  detail::poll_backoff backoff;
  std::vector<std::byte> frame, reply;  // reused: their capacity stays between tasks
  for (;;) {
    MPI_Status status;
    if (!detail::mpi_try_receive(comm_, 0, MPI_ANY_TAG, frame, status)) {
      backoff.pause([](auto d) { std::this_thread::sleep_for(d); });
      continue;
    }
    if (status.MPI_TAG == detail::mpi_stop_tag) break;
    // A result too big for one MPI message fails its task (remote_error)
    // instead of ending the job with an uncaught length_error.
    detail::run_task_frame_into(frame, code, reply);
    if (reply.size() > detail::mpi_max_message)
      reply = detail::reply_within(std::move(reply), detail::mpi_max_message,
                                   "weft::mpi_pool: the result is over 2 GiB, too big for one MPI message");
    MPI_Send(reply.data(), static_cast<int>(reply.size()), MPI_BYTE, 0, detail::mpi_result_tag, comm_);
    backoff.reset();
  }
  std::fflush(nullptr);
  end_mpi();
  std::exit(0);
}

template <class F, class... Args>
auto mpi_pool::submit(F f, Args&&... args) -> future<detail::remote_result_t<F, Args...>> {
  refuse_if_closed("submit");
  auto encode = [this](std::uintptr_t address) {
    auto word = images_.encode(address);
    if (!word) throw std::invalid_argument("weft::mpi_pool: f's code is not in an image loaded when the pool started");
    return *word;
  };
  auto [t, result] = detail::make_remote_task(next_task_id(), encode, f, std::forward<Args>(args)...);
  if (t.payload.size() > static_cast<std::size_t>(INT_MAX)) {
    t.discard();
    throw std::length_error("weft::mpi_pool: arguments over 2 GiB do not fit one MPI message");
  }
  enqueue(std::move(t));
  return std::move(result);
}

// The core hands t to w (under the core's mutex_). The worker's reply
// proves it received the payload, which stays alive in w.running until
// then; so the request itself need not be tracked.
inline bool mpi_pool::send_task(worker& w, task& t) {
  MPI_Request request;
  MPI_Isend(t.payload.data(), static_cast<int>(t.payload.size()), MPI_BYTE, w.rank, detail::mpi_task_tag, comm_,
            &request);
  MPI_Request_free(&request);
  return true;
}

inline void mpi_pool::wake_dispatcher() {
  {
    std::lock_guard lock(wake_mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

// Completes the futures of the replies that arrived; true if one did. A
// reply no task waits for is reported (remote_pool_core::report_anomaly).
inline bool mpi_pool::receive_results() {
  bool progressed = false;
  MPI_Status status;
  while (detail::mpi_try_receive(comm_, MPI_ANY_SOURCE, detail::mpi_result_tag, reply_, status)) {
    progressed = true;
    const auto source = static_cast<std::size_t>(status.MPI_SOURCE);
    if (source == 0 || source > workers_.size()) {
      report_anomaly("a reply from a rank that is not a worker");
      continue;
    }
    complete_front(workers_[source - 1], reply_);  // false: reported, nothing to complete
  }
  return progressed;
}

inline void mpi_pool::sleep_unless_woken(std::chrono::microseconds d) {
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, d, [this] { return woken_; });
  woken_ = false;
}

// Rank 0's progress thread: the only thread that calls MPI while the pool
// runs. Polls with detail::poll_backoff: a short yield phase after a
// message, then sleeps of up to 1 ms that submit() and shutdown() cut short.
inline void mpi_pool::progress_main() {
  detail::poll_backoff backoff;
  while (!idle_after_close(workers_)) {
    bool sent = assign_tasks(workers_, true);
    bool received = receive_results();
    if (sent || received) {
      backoff.reset();
      continue;
    }
    backoff.pause([this](auto d) { sleep_unless_woken(d); });
  }
  for (const auto& w : workers_) MPI_Send(nullptr, 0, MPI_BYTE, w.rank, detail::mpi_stop_tag, comm_);
}

inline void mpi_pool::shutdown(shutdown_mode mode) {
  shutdown_then(mode, [this] { end_mpi(); });
}

inline void mpi_pool::end_mpi() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  if (owns_mpi_) MPI_Finalize();
  owns_mpi_ = false;
}

inline mpi_pool::~mpi_pool() { shutdown(shutdown_mode::drain); }

}  // namespace weft
