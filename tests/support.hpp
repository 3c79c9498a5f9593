// weft — MIT licence. See LICENSE.
//
// Test helpers shared by every weft test: the Catch2 v2/v3 include shim,
// thread helpers and hang detection. Hang detection uses generous deadlines
// only to turn a would-be hang into a failure; no test asserts on timing.
#pragma once

#if defined(WEFT_CATCH2_V3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <functional>
#include <iterator>
#include <ranges>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <csignal>
#include <cstdio>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#endif

namespace weft_test {

// Upper bound for "this should finish" waits; far beyond any healthy run,
// even under ThreadSanitizer on a loaded 2-core machine.
inline constexpr auto hang_limit = std::chrono::seconds(60);

// Runs f(i) on n threads and joins them all.
inline void run_threads(int n, const std::function<void(int)>& f) {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) threads.emplace_back(f, i);
  for (auto& t : threads) t.join();
}

// Waits (yielding) until pred() holds or hang_limit passes; returns pred().
template <class Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + hang_limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Runs f() on a thread of its own and waits for it. If f has not returned
// within `limit`, the test process reports the hang and ends (a hung thread
// can be neither joined nor abandoned safely): a would-be hang becomes a
// failure with a name instead of a ctest timeout.
template <class F>
void finishes(const char* what, F f, std::chrono::seconds limit = hang_limit) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread runner([&] {
    f();
    std::lock_guard lock(m);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(m);
  if (!cv.wait_for(lock, limit, [&] { return done; })) {
    std::fprintf(stderr, "HANG: %s did not finish within %lld s\n", what,
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(3);
  }
  lock.unlock();
  runner.join();
}

// A single-pass input range of first, first + 1, ... (unbounded when
// `last` is absent): what imap must accept. Written here because clang 14
// cannot compile libstdc++ 12's std::views::iota. failing_at(bad): 0, 1,
// ... whose read of item `bad` throws std::runtime_error("input failed at
// <bad>") (an input that fails while it is being read).
template <class T>
class counting {
 public:
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(T v, const counting* owner) : v_(v), owner_(owner) {}
    T operator*() const {
      if (owner_->fails_ && v_ == owner_->bad_) throw std::runtime_error("input failed at " + std::to_string(v_));
      return v_;
    }
    iterator& operator++() {
      ++v_;
      return *this;
    }
    void operator++(int) { ++v_; }
    bool operator==(std::default_sentinel_t) const { return owner_->bounded_ && v_ >= owner_->last_; }

   private:
    T v_{};
    const counting* owner_ = nullptr;
  };
  explicit counting(T first) : first_(first) {}
  counting(T first, T last) : first_(first), last_(last), bounded_(true) {}
  static counting failing_at(T bad) {
    counting c(T{});
    c.bad_ = bad;
    c.fails_ = true;
    return c;
  }
  iterator begin() const { return iterator(first_, this); }
  std::default_sentinel_t end() const { return {}; }

 private:
  T first_{}, last_{}, bad_{};
  bool bounded_ = false, fails_ = false;
};

// The strictest input range C++20 allows: first, first + 1, ..., last - 1
// through one iterator that is move-only and has no default constructor
// (std::views::istream's is of this kind). What imap must accept too.
template <class T>
class one_pass {
 public:
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator(T v, T last) : v_(v), last_(last) {}
    iterator(iterator&&) = default;
    iterator& operator=(iterator&&) = default;
    T operator*() const { return v_; }
    iterator& operator++() {
      ++v_;
      return *this;
    }
    void operator++(int) { ++v_; }
    bool operator==(std::default_sentinel_t) const { return v_ >= last_; }

   private:
    T v_, last_;
  };
  one_pass(T first, T last) : first_(first), last_(last) {}
  iterator begin() { return iterator(first_, last_); }
  std::default_sentinel_t end() const { return {}; }

 private:
  T first_, last_;
};
static_assert(std::input_iterator<one_pass<int>::iterator> && !std::default_initializable<one_pass<int>::iterator> &&
              !std::copyable<one_pass<int>::iterator>);

// A forward range with only non-const begin() and end(), as
// std::views::filter (which caches its begin) and drop_while are: what the
// maps must accept. Written here because libc++ 14 lacks those views.
template <class T>
class non_const_begin {
 public:
  explicit non_const_begin(std::vector<T> items) : items_(std::move(items)) {}
  typename std::vector<T>::iterator begin() { return items_.begin(); }
  typename std::vector<T>::iterator end() { return items_.end(); }

 private:
  std::vector<T> items_;
};
static_assert(std::ranges::forward_range<non_const_begin<int>> &&
              !std::ranges::range<const non_const_begin<int>>);

// A range of the user's own over an int range, with a base(), that bounds
// it: the items below `limit` (a take_while written by hand).
template <class V>
class below {
 public:
  class iterator {
   public:
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(std::ranges::iterator_t<const V> it, int limit) : it_(it), limit_(limit) {}
    int operator*() const { return *it_; }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++it_;
      return before;
    }
    bool operator==(const iterator&) const = default;
    bool operator==(std::default_sentinel_t) const { return *it_ >= limit_; }

   private:
    std::ranges::iterator_t<const V> it_{};
    int limit_ = 0;
  };
  below(V base, int limit) : base_(std::move(base)), limit_(limit) {}
  V base() const { return base_; }
  iterator begin() const { return {std::ranges::begin(base_), limit_}; }
  std::default_sentinel_t end() const { return {}; }

 private:
  V base_;
  int limit_;
};

// Lets other threads run for a while without being a synchronization point:
// assertions made after it hold whatever the scheduler did.
inline void let_others_run() {
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
}

// Stress tests scale their operation counts by WEFT_STRESS_SCALE (default 1).
inline long stress_scale() {
  const char* s = std::getenv("WEFT_STRESS_SCALE");
  long v = s ? std::atol(s) : 1;
  return v > 0 ? v : 1;
}

// Catch2 v2 assertions are not thread-safe. Threads other than the test's
// own record failures with THREAD_CHECK; the test thread then reports them
// all with CHECK_THREADS_OK().
inline std::mutex thread_failures_mutex;
inline std::string thread_failures;  // guarded by thread_failures_mutex

inline void thread_check(bool ok, const char* expr, const char* file, int line) {
  if (ok) return;
  std::lock_guard lock(thread_failures_mutex);
  thread_failures += std::string(file) + ":" + std::to_string(line) + ": " + expr + "\n";
}
inline std::string take_thread_failures() {
  std::lock_guard lock(thread_failures_mutex);
  return std::exchange(thread_failures, {});
}

// An item that says who pushed it and in which order (per-producer FIFO and
// exactly-once checks in the queue tests).
struct tagged {
  std::uint32_t producer;
  std::uint32_t seq;
};

// A one-shot gate: tasks block in wait() until the test calls open().
class gate {
 public:
  void wait() const { open_.wait(false); }
  void open() {
    open_.store(true);
    open_.notify_all();
  }

 private:
  std::atomic<bool> open_{false};
};

#if defined(__unix__) || defined(__APPLE__)
// Forks; the child runs body() and _exits with its result (0 = ok). Children
// die with the test process, so a failed assertion never leaves them behind.
template <class Body>
pid_t spawn(Body body) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
#if defined(__linux__)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    // The child must die of its own signals: Catch's fatal-signal reporter
    // (inherited) would allocate inside the handler, which TSan reports as a
    // signal-unsafe call and turns the expected SIGABRT into an exit code.
    for (int sig : {SIGABRT, SIGSEGV, SIGFPE, SIGILL, SIGBUS, SIGTERM}) ::signal(sig, SIG_DFL);
    ::_exit(body());
  }
  return pid;
}
// Waits for a child and returns its wait status.
inline int reap(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}
inline bool exited_ok(pid_t pid) {
  int s = reap(pid);
  return WIFEXITED(s) && WEXITSTATUS(s) == 0;
}
#endif

// Counts live instances, to prove nothing leaks or is destroyed twice.
struct tracked {
  static inline std::atomic<long> live{0};
  int value = 0;
  explicit tracked(int v) : value(v) { live.fetch_add(1); }
  tracked(tracked&& o) noexcept : value(o.value) { live.fetch_add(1); }
  tracked(const tracked& o) : value(o.value) { live.fetch_add(1); }
  tracked& operator=(const tracked&) = default;
  ~tracked() { live.fetch_sub(1); }
};

}  // namespace weft_test

#define THREAD_CHECK(...) \
  ::weft_test::thread_check(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__, __FILE__, __LINE__)
// Passes when fn() throws E; usable from any thread.
#define THREAD_CHECK_THROWS_AS(expr, E)                                  \
  do {                                                                   \
    bool thrown_ = false;                                                \
    try {                                                                \
      (void)(expr);                                                      \
    } catch (const E&) {                                                 \
      thrown_ = true;                                                    \
    } catch (...) {                                                      \
    }                                                                    \
    ::weft_test::thread_check(thrown_, #expr " throws " #E, __FILE__, __LINE__); \
  } while (0)
#define CHECK_THREADS_OK() CHECK(::weft_test::take_thread_failures() == "")
