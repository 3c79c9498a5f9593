// Must not compile, with one error naming the fix: an aggregate with a base
// class cannot be checked field by field (a structured binding cannot name
// fields spread over a base and the derived class).
#include <weft/process_pool.hpp>
#include <string>
struct named {
  std::string name;
};
struct job : named {
  int size;
};
int size_of(job j) { return j.size; }
int main() {
  weft::process_pool pool(1);
  return pool.submit(size_of, job{{"a"}, 1}).get();
}
