// weft — MIT licence. See LICENSE.
// Tests for <weft/rw_lock.hpp>: rw_lock and synchronized.
#include <weft/rw_lock.hpp>

#include "support.hpp"

#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

using weft::rw_lock;
using namespace std::chrono_literals;

TEST_CASE("readers share the lock and exclude writers", "[rw_lock]") {
  rw_lock lock;
  lock.lock_shared();
  std::thread other([&] {
    THREAD_CHECK(lock.try_lock_shared());  // a second reader gets in at once
    THREAD_CHECK(!lock.try_lock());        // a writer does not
    lock.unlock_shared();
  });
  other.join();
  CHECK_THREADS_OK();
  CHECK_FALSE(lock.try_lock());
  lock.unlock_shared();
  CHECK(lock.try_lock());
  lock.unlock();
}

TEST_CASE("a writer excludes readers and writers", "[rw_lock]") {
  rw_lock lock;
  lock.lock();
  std::thread other([&] {
    THREAD_CHECK(!lock.try_lock_shared());
    THREAD_CHECK(!lock.try_lock());
  });
  other.join();
  CHECK_THREADS_OK();
  lock.unlock();
  CHECK(lock.try_lock_shared());
  lock.unlock_shared();
}

TEST_CASE("lock_shared blocks while a writer holds the lock", "[rw_lock]") {
  rw_lock lock;
  lock.lock();
  std::atomic<bool> entered{false};
  std::thread reader([&] {
    std::shared_lock guard(lock);
    entered = true;
  });
  weft_test::let_others_run();
  CHECK_FALSE(entered.load());
  lock.unlock();
  reader.join();
  CHECK(entered.load());
}

TEST_CASE("lock blocks while a reader holds the lock", "[rw_lock]") {
  rw_lock lock;
  lock.lock_shared();
  std::atomic<bool> entered{false};
  std::thread writer([&] {
    std::unique_lock guard(lock);
    entered = true;
  });
  weft_test::let_others_run();
  CHECK_FALSE(entered.load());
  lock.unlock_shared();
  writer.join();
  CHECK(entered.load());
}

TEST_CASE("timed lock variants give up after their timeout", "[rw_lock]") {
  rw_lock lock;
  lock.lock_shared();
  std::thread([&] {
    THREAD_CHECK(!lock.try_lock_for(10ms));
    THREAD_CHECK(!lock.try_lock_until(std::chrono::system_clock::now() + 5ms));
    // The writer that gave up must not keep readers out.
    THREAD_CHECK(lock.try_lock_shared_for(weft_test::hang_limit));
    lock.unlock_shared();
  }).join();
  lock.unlock_shared();

  lock.lock();
  std::thread([&] {
    THREAD_CHECK(!lock.try_lock_shared_for(10ms));
    THREAD_CHECK(!lock.try_lock_shared_until(std::chrono::steady_clock::now() + 5ms));
  }).join();
  CHECK_THREADS_OK();
  lock.unlock();
  // The readers that gave up must not keep writers out.
  CHECK(lock.try_lock_for(weft_test::hang_limit));
  lock.unlock();
}

TEST_CASE("a writer timing out while readers drain lets waiting readers in", "[rw_lock]") {
  rw_lock lock;
  lock.lock_shared();  // reader A holds
  std::atomic<bool> writer_gave_up{false};
  std::thread writer([&] {
    THREAD_CHECK(!lock.try_lock_for(50ms));  // A never leaves in time
    writer_gave_up = true;
  });
  std::thread reader_b([&] {
    // B may arrive while the writer is draining and be held back; it must
    // get in once the writer gives up.
    lock.lock_shared();
    lock.unlock_shared();
  });
  writer.join();
  reader_b.join();
  CHECK(writer_gave_up.load());
  CHECK_THREADS_OK();
  lock.unlock_shared();
}

// The lock moves its readers to one counter in the state word while writes
// are frequent and back to per-thread slots when reads dominate again (see
// the class comment); each mode must keep both exclusions.
TEST_CASE("write-heavy and read-mostly use both keep readers and writers apart", "[rw_lock]") {
  rw_lock lock;
  auto check_exclusion = [&] {
    lock.lock_shared();
    std::thread([&] {
      THREAD_CHECK(lock.try_lock_shared());
      THREAD_CHECK(!lock.try_lock());
      THREAD_CHECK(!lock.try_lock_for(1ms));
      lock.unlock_shared();
    }).join();
    CHECK_FALSE(lock.try_lock());
    lock.unlock_shared();
    lock.lock();
    std::thread([&] {
      THREAD_CHECK(!lock.try_lock_shared());
      THREAD_CHECK(!lock.try_lock_shared_for(1ms));
      THREAD_CHECK(!lock.try_lock());
    }).join();
    lock.unlock();
  };
  check_exclusion();  // read-mostly: the initial mode
  for (int i = 0; i < 100; ++i) {  // writes only: readers move to the state word
    lock.lock();
    lock.unlock();
  }
  check_exclusion();
  for (int i = 0; i < 50; ++i) {  // 200 reads per write: back to the slots
    for (int r = 0; r < 200; ++r) {
      lock.lock_shared();
      lock.unlock_shared();
    }
    lock.lock();
    lock.unlock();
  }
  check_exclusion();
  CHECK_THREADS_OK();
}

TEST_CASE("works with std::unique_lock, std::shared_lock and std::scoped_lock", "[rw_lock]") {
  rw_lock a, b;
  {
    std::scoped_lock both(a, b);
    CHECK_FALSE(a.try_lock_shared());
  }
  {
    std::unique_lock w(a, 10ms);  // try_lock_for
    CHECK(w.owns_lock());
  }
  {
    std::shared_lock r(a, std::chrono::steady_clock::now() + 10ms);  // try_lock_shared_until
    CHECK(r.owns_lock());
    std::shared_lock r2(a, std::try_to_lock);
    CHECK(r2.owns_lock());
  }
  CHECK(a.try_lock());
  a.unlock();
}

TEST_CASE("synchronized: wlock writes, rlock reads through pointer-like guards",
          "[rw_lock][synchronized]") {
  weft::synchronized<std::map<std::string, int>> cache;
  cache.wlock()->emplace("one", 1);
  (*cache.wlock())["two"] = 2;
  {
    auto reader = cache.rlock();
    CHECK(reader->size() == 2);
    CHECK(reader->at("two") == 2);
    auto second = cache.rlock();  // readers share
    CHECK(second->count("one") == 1);
  }
  int sum = cache.with_rlock([](const auto& m) {
    int s = 0;
    for (auto& [k, v] : m) s += v;
    return s;
  });
  CHECK(sum == 3);
  cache.with_wlock([](auto& m) { m.erase("one"); });
  CHECK(cache.rlock()->size() == 1);
}

TEST_CASE("synchronized: an exception in with_wlock releases the lock",
          "[rw_lock][synchronized]") {
  weft::synchronized<int> value(5);
  CHECK_THROWS_AS(value.with_wlock([](int& v) {
    v = 6;
    throw std::runtime_error("boom");
  }), std::runtime_error);
  // Would deadlock if the lock had been kept.
  CHECK(value.with_wlock([](int& v) { return ++v; }) == 7);
}

TEST_CASE("synchronized: works with a lock that has no shared mode", "[rw_lock][synchronized]") {
  weft::synchronized<std::string, std::mutex> text(std::in_place, 3, 'x');
  CHECK(*text.rlock() == "xxx");
  text.wlock()->push_back('y');
  auto guard = text.wlock();
  guard->push_back('z');
  guard.unlock();
  CHECK(*text.rlock() == "xxxyz");
}

TEST_CASE("synchronized: concurrent increments under wlock are exact", "[rw_lock][synchronized]") {
  weft::synchronized<long> total(0L);
  weft_test::run_threads(4, [&](int) {
    for (int i = 0; i < 20000; ++i) ++*total.wlock();
  });
  CHECK(*total.rlock() == 80000);
}
