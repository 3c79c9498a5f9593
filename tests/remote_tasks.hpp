// weft — MIT licence. See LICENSE.
//
// Tasks and a user type shared by the process_pool and mpi_pool tests: the
// same functions must make the same round trips through either pool.
#pragma once

#include <weft/serialize.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace weft_test {

struct person {  // a user type with its own serializer
  std::string name;
  int age;
  bool operator==(const person&) const = default;
};

inline int square(int x) { return x * x; }
inline std::map<std::string, int> count_words(std::vector<std::string> words) {
  std::map<std::string, int> m;
  for (auto& w : words) ++m[w];
  return m;
}
inline person older(person p) { return {p.name, p.age + 1}; }
inline int throws_range(int) { throw std::out_of_range("index 7 out of range"); }

}  // namespace weft_test

template <>
struct weft::serializer<weft_test::person> {
  static void write(weft::writer& w, const weft_test::person& p) {
    w.write(p.name);
    w.write(p.age);
  }
  static weft_test::person read(weft::reader& r) {
    auto name = r.read<std::string>();
    return {std::move(name), r.read<int>()};
  }
};
