// Must not compile: a callable capturing a std::string cannot be sent to a worker process.
#include <weft/process_pool.hpp>
#include <string>
int main() {
  weft::process_pool pool(1);
  std::string name = "x";
  return pool.submit([name] { return static_cast<int>(name.size()); }).get();
}
