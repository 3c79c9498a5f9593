// weft — MIT licence. See LICENSE.
//
// <weft/error.hpp> — the exception types every weft component throws.
//
// weft::error is the root of weft's own errors and derives from
// std::runtime_error, so `catch (const std::exception&)` sees them all.
// Errors the standard already names are thrown as the standard type instead:
// std::invalid_argument for bad arguments, std::logic_error for misuse of a
// protocol (task_done() too often), std::system_error (with errno) for OS
// failures, std::future_error for a future without state.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <stdexcept>
#include <string>
#include <utility>

namespace weft {

// Root of every weft-specific exception.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A producer used a bounded_queue / shared_queue after close().
class queue_closed : public error {
 public:
  queue_closed() : error("weft: push on a closed queue") {}
  using error::error;
};

// A task was submitted to a pool after shutdown() began.
class pool_closed : public error {
 public:
  pool_closed() : error("weft: submit on a pool that is shut down") {}
  using error::error;
};

// A process pool can no longer run tasks (like Python's BrokenProcessPool):
// its initializer failed, or its fork server died or cannot start workers.
// what() names the cause; pending and later tasks fail with it.
class pool_broken : public error {
 public:
  pool_broken() : error("weft: the pool is broken") {}
  using error::error;
};

// future::get() on a task that was cancelled before it started.
class cancelled : public error {
 public:
  cancelled() : error("weft: the task was cancelled before it started") {}
  using error::error;
};

// A timed wait over several futures (as_completed, wait) ran out of time,
// or a process task ran past its deadline (process_pool::submit_with).
class timeout : public error {
 public:
  timeout() : error("weft: timed out") {}
  using error::error;
};

// Bytes crossing a process boundary were truncated or corrupted.
class protocol_error : public error {
 public:
  using error::error;
};

// A task run in another process (process_pool) threw: what() is the
// original message, type_name() the original exception type.
class remote_error : public error {
 public:
  remote_error(std::string type_name, const std::string& what)
      : error(what), type_name_(std::move(type_name)) {}
  const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

// The worker process running a task died (signal, exit(), abort, OOM kill)
// before it returned a result. signal() is the terminating signal or 0;
// exit_status() the exit status when it exited.
class worker_lost : public error {
 public:
  worker_lost(const std::string& what, int signal, int exit_status)
      : error(what), signal_(signal), exit_status_(exit_status) {}
  int signal() const noexcept { return signal_; }
  int exit_status() const noexcept { return exit_status_; }

 private:
  int signal_;
  int exit_status_;
};

}  // namespace weft
