// weft — MIT licence. See LICENSE.
// Tests for <weft/shared_memory.hpp>. Most fork: label `fork`. Children
// leave with _exit and report through their exit status.
#include <weft/shared_memory.hpp>

#include "support.hpp"

#include <csignal>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// A segment name unique to this test process.
std::string unique_name(const char* what) {
  return "weft-test-" + std::to_string(::getpid()) + "-" + what;
}

using weft_test::exited_ok;
using weft_test::spawn;
int wait_status(pid_t pid) { return weft_test::reap(pid); }

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}
std::size_t our_shm_entries() {
  std::size_t n = 0;
  std::string prefix = "weft-test-" + std::to_string(::getpid()) + "-";
  for (auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

// Overwrites the 64-bit header field at `offset` of the named segment.
// The headers of shared_array and shared_queue both start: magic (0),
// element size (8), element count (16).
void write_header_field(const std::string& name, std::size_t offset, std::uint64_t value) {
  auto raw = weft::shared_memory::open(name);
  std::memcpy(static_cast<std::byte*>(raw.data()) + offset, &value, sizeof value);
}
constexpr std::size_t count_field = 16;

}  // namespace

TEST_CASE("parent and forked children see each other's writes", "[shared_memory][fork]") {
  weft::shared_array<int> arr(8, 7);
  CHECK(arr.size() == 8);
  CHECK(arr[3] == 7);
  arr[0] = 100;  // before the fork: the child sees it
  pid_t child = spawn([&] {
    if (arr[0] != 100) return 1;
    for (std::size_t i = 1; i < arr.size(); ++i) arr[i] = static_cast<int>(i) * 2;
    return 0;
  });
  CHECK(exited_ok(child));
  for (std::size_t i = 1; i < arr.size(); ++i) CHECK(arr[i] == static_cast<int>(i) * 2);
  std::span<int> view = arr;
  CHECK(view.size() == 8);
  int sum = 0;
  for (int v : arr) sum += v;
  CHECK(sum == 100 + 2 * (1 + 2 + 3 + 4 + 5 + 6 + 7));
}

TEST_CASE("fetch_add from 4 processes x 100k is exact", "[shared_memory][fork]") {
  weft::shared_value<long> counter(0);
  weft::shared_array<std::uint64_t> slots(2, 0);
  weft::shared_value<double> real(0.0);
  constexpr int procs = 4, per_proc = 100000;
  std::vector<pid_t> children;
  for (int p = 0; p < procs; ++p)
    children.push_back(spawn([&] {
      for (int i = 0; i < per_proc; ++i) {
        counter.fetch_add(1);
        slots.atomic(static_cast<std::size_t>(i % 2)).fetch_add(1);
      }
      for (int i = 0; i < 1000; ++i) real.fetch_add(0.5);
      return 0;
    }));
  for (pid_t c : children) CHECK(exited_ok(c));
  CHECK(counter.load() == procs * per_proc);
  CHECK(slots[0] + slots[1] == std::uint64_t{procs} * per_proc);
  CHECK(real.load() == procs * 1000 * 0.5);
  counter.store(5);
  CHECK(counter.fetch_sub(2) == 5);
  CHECK(counter.load() == 3);
}

TEST_CASE("interprocess_mutex excludes across processes", "[shared_memory][fork]") {
  weft::shared_array<long> data(2, 0);  // two plain longs updated under the lock
  constexpr int procs = 4, per_proc = 20000;
  std::vector<pid_t> children;
  for (int p = 0; p < procs; ++p)
    children.push_back(spawn([&] {
      for (int i = 0; i < per_proc; ++i) {
        auto guard = data.lock();
        data[0] += 1;
        data[1] = data[0];  // consistent pair only under mutual exclusion
      }
      return 0;
    }));
  for (pid_t c : children) CHECK(exited_ok(c));
  CHECK(data[0] == procs * per_proc);
  CHECK(data[1] == data[0]);
}

TEST_CASE("a child killed while holding the lock: the next locker is told, data reachable",
          "[shared_memory][fork]") {
  weft::shared_value<int> value(1);
  pid_t child = spawn([&] {
    auto guard = value.lock();
    value.get() = 2;  // half of an update...
    ::raise(SIGKILL);  // ...and the owner dies holding the lock
    return 0;
  });
  int status = wait_status(child);
  CHECK(WIFSIGNALED(status));
  {
    auto guard = value.lock();  // does not deadlock
    CHECK(guard.owner_died());
    CHECK(value.get() == 2);
    value.get() = 3;  // repaired
  }
  auto again = value.lock();
  CHECK_FALSE(again.owner_died());
  CHECK(value.get() == 3);
  weft::interprocess_guard moved = std::move(again);
  CHECK(moved.owns_lock());
  CHECK_FALSE(again.owns_lock());
}

TEST_CASE("named segments: create, open by name, unlink, and every error",
          "[shared_memory][fork]") {
  const std::size_t fds_before = open_fds();
  const std::string name = unique_name("seg");
  {
    auto seg = weft::shared_memory::create(name, 4096);
    CHECK(seg.size() == 4096);
    CHECK(seg.name() == "/" + name);
    static_cast<char*>(seg.data())[0] = 'w';
    CHECK_THROWS_AS(weft::shared_memory::create(name, 16), std::system_error);  // exists
    try {
      weft::shared_memory::create(name, 16);
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::file_exists);
      CHECK(std::string(e.what()).find(name) != std::string::npos);  // names the segment
    }
    pid_t child = spawn([&] {
      auto other = weft::shared_memory::open(name);  // a separate mapping, by name
      if (static_cast<char*>(other.data())[0] != 'w') return 1;
      static_cast<char*>(other.data())[1] = 'f';
      return 0;
    });
    CHECK(exited_ok(child));
    CHECK(static_cast<char*>(seg.data())[1] == 'f');
    // A forked child holding a copy of the creating handle must not unlink
    // the name when it exits normally (its destructors run).
    pid_t copier = spawn([&] {
      weft::shared_memory moved = std::move(seg);  // child's copy, destroyed here
      return 0;
    });
    CHECK(exited_ok(copier));
    CHECK_NOTHROW(weft::shared_memory::open(name));
    seg.unlink();
    seg.unlink();  // idempotent
    CHECK_THROWS_AS(weft::shared_memory::open(name), std::system_error);
    CHECK(static_cast<char*>(seg.data())[0] == 'w');  // still mapped after unlink
  }
  {
    auto owner = weft::shared_memory::create(name, 64);
  }  // the creator's destructor unlinks
  CHECK_THROWS_AS(weft::shared_memory::open(name), std::system_error);
  try {
    weft::shared_memory::open(name);
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
  }
  CHECK_THROWS_AS(weft::shared_memory::create(name, 0), std::invalid_argument);
  CHECK_THROWS_AS(weft::shared_memory::open(name), std::system_error);  // size 0 created nothing
  CHECK_THROWS_AS(weft::shared_memory::create("", 16), std::system_error);
  CHECK_THROWS_AS(weft::shared_memory::create("a/b", 16), std::system_error);
  CHECK_THROWS_AS(weft::shared_memory::create(std::string(300, 'x'), 16), std::system_error);
  CHECK_THROWS_AS(weft::shared_memory::open("/"), std::system_error);
  CHECK(open_fds() == fds_before);
}

TEST_CASE("shared_array by name: open sees the creator's data; the type is checked",
          "[shared_memory][fork]") {
  const std::string name = unique_name("arr");
  auto arr = weft::shared_array<double>::create(name, 100, 1.5);
  pid_t child = spawn([&] {
    auto view = weft::shared_array<double>::open(name);
    if (view.size() != 100 || view[99] != 1.5) return 1;
    view[0] = 42.0;
    return 0;
  });
  CHECK(exited_ok(child));
  CHECK(arr[0] == 42.0);
  CHECK_THROWS_AS(weft::shared_array<char>::open(name), std::invalid_argument);  // element size differs
  auto raw = weft::shared_memory::create(unique_name("raw"), 4096);  // zero bytes: no magic
  CHECK_THROWS_AS(weft::shared_array<double>::open(raw.name()), std::invalid_argument);
  CHECK_THROWS_AS(weft::shared_array<int>(0), std::invalid_argument);
  CHECK_THROWS_AS(weft::shared_array<int>::create(unique_name("zero"), 0), std::invalid_argument);
}

// Issue 13 item 8: a segment larger than the free space of /dev/shm died
// with SIGBUS while being initialized, because ftruncate reserves nothing.
// The size asked for is beyond the whole filesystem, which tmpfs refuses
// before allocating anything, so the test never fills the machine's memory.
TEST_CASE("a segment larger than the free space of /dev/shm throws ENOSPC, not SIGBUS", "[shared_memory]") {
  constexpr long tmpfs_magic = 0x01021994;
  struct statfs fs {};
  struct statvfs vfs {};
  if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != tmpfs_magic || ::statvfs("/dev/shm", &vfs) != 0 ||
      vfs.f_blocks == 0) {
    WARN("skipped: /dev/shm is not a size-limited tmpfs");
    return;
  }
  const std::size_t total = static_cast<std::size_t>(vfs.f_blocks) * vfs.f_frsize;
  const std::size_t free_space = static_cast<std::size_t>(vfs.f_bavail) * vfs.f_frsize;
  const std::size_t too_big = total + (std::size_t{1} << 30);
  REQUIRE(too_big > free_space);
  const std::string name = unique_name("huge");
  const std::size_t fds_before = open_fds();
  try {
    auto segment = weft::shared_memory::create(name, too_big);
    FAIL("create(" << too_big << " bytes) succeeded with " << free_space << " bytes free");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::no_space_on_device);
    CHECK(std::string(e.what()).find(name) != std::string::npos);
  }
  CHECK(open_fds() == fds_before);
  CHECK_FALSE(std::filesystem::exists("/dev/shm/" + name));  // unlinked
}

// Issue 13 item 8: open() accepted a header count far beyond the segment
// (data_offset + count * sizeof(T) wrapped around), so size() and
// operator[] reached out of bounds.
TEST_CASE("shared_array::open of a header that does not fit its segment throws EINVAL", "[shared_memory]") {
  const std::string name = unique_name("corrupt-arr");
  auto arr = weft::shared_array<double>::create(name, 10, 1.0);
  auto expect_corrupt = [&](std::uint64_t count) {
    write_header_field(name, count_field, count);
    try {
      auto view = weft::shared_array<double>::open(name);
      FAIL("opened a header announcing " << count << " elements: size() " << view.size());
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::invalid_argument);
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  };
  expect_corrupt(std::uint64_t{1} << 61);  // 2^61 x 8 bytes wraps to 0
  expect_corrupt(std::uint64_t{1} << 40);
  expect_corrupt(11);  // one element more than the segment holds
  expect_corrupt(0);   // create() never makes an empty array
  write_header_field(name, count_field, 10);
  CHECK(weft::shared_array<double>::open(name).size() == 10);  // the intact header still opens
  auto small = weft::shared_memory::create(unique_name("tiny"), 8);  // smaller than any header
  CHECK_THROWS_AS(weft::shared_array<double>::open(small.name()), std::system_error);
}

TEST_CASE("no /dev/shm entries of this test process are left behind", "[shared_memory]") {
  CHECK(our_shm_entries() == 0);
}
