// weft — MIT licence. See LICENSE.
// Tests for <weft/detail/code_address.hpp>: how mpi_pool names a function
// for another process of the same binary.
#include <weft/detail/code_address.hpp>

#include "support.hpp"

#include <memory>

namespace {
int a_function(int x) { return x + 1; }
int another_function(int x) { return x * 2; }
int some_data = 42;
}  // namespace

TEST_CASE("a function's code word decodes to the same function") {
  auto table = weft::detail::image_table::current();
  auto word = table.encode(reinterpret_cast<std::uintptr_t>(&a_function));
  REQUIRE(word.has_value());
  auto address = table.decode(*word);
  REQUIRE(address.has_value());
  auto fn = reinterpret_cast<int (*)(int)>(*address);
  CHECK(fn(1) == 2);
  auto other = table.encode(reinterpret_cast<std::uintptr_t>(&another_function));
  REQUIRE(other.has_value());
  CHECK(*other != *word);
}

TEST_CASE("library code is named through its own image") {
  auto table = weft::detail::image_table::current();
  auto word = table.encode(reinterpret_cast<std::uintptr_t>(&std::abort));  // in libc, not the executable
  REQUIRE(word.has_value());
  CHECK((*word >> 48) != 0);  // image 0 is the executable
  CHECK(table.decode(*word) == reinterpret_cast<std::uintptr_t>(&std::abort));
}

TEST_CASE("addresses outside code and corrupted words are rejected") {
  auto table = weft::detail::image_table::current();
  auto heap = std::make_unique<int>(1);
  CHECK_FALSE(table.encode(reinterpret_cast<std::uintptr_t>(heap.get())).has_value());
  CHECK_FALSE(table.encode(reinterpret_cast<std::uintptr_t>(&some_data)).has_value());
  auto word = table.encode(reinterpret_cast<std::uintptr_t>(&a_function));
  REQUIRE(word.has_value());
  CHECK_FALSE(table.decode(*word | (std::uint64_t{0xfff} << 48)).has_value());  // no such image
  CHECK_FALSE(table.decode((*word & ~((std::uint64_t{1} << 48) - 1)) | ((std::uint64_t{1} << 47) + 12345)).has_value());
}
