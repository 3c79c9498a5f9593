// Must not compile, with one error naming the fix: imap yields f's results
// (it was 22 errors: the static_assert, then imap_range<void>'s vector<void>).
#include <weft/process_pool.hpp>
#include <vector>
static void work(int) {}
int main() {
  weft::process_pool pool(1);
  std::vector<int> xs{1, 2, 3};
  for (auto x : pool.imap(work, xs)) static_cast<void>(x);
}
