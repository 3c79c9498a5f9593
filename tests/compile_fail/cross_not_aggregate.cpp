// Must not compile, with one error: a class with private state needs a serializer.
#include <weft/process_pool.hpp>
#include <string>
class account {
  std::string owner_;

 public:
  explicit account(std::string owner) : owner_(std::move(owner)) {}
  std::size_t size() const { return owner_.size(); }
};
static std::size_t owner_length(account a) { return a.size(); }
int main() {
  weft::process_pool pool(1);
  return static_cast<int>(pool.submit(owner_length, account("ada")).get());
}
