// Must not compile, with one error naming the fix: imap yields f's results
// (it was 21 errors: the static_assert, then imap_range<void>'s vector<void>).
#include <weft/thread_pool.hpp>
#include <vector>
int main() {
  weft::thread_pool pool(2);
  std::vector<int> xs{1, 2, 3};
  for (auto x : pool.imap_unordered([](int) {}, xs)) static_cast<void>(x);
}
