// weft — MIT licence. See LICENSE.
// Tests for <weft/detail/code_address.hpp>: how mpi_pool names a function
// for another process of the same binary.
#include <weft/detail/code_address.hpp>

#include "support.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <elf.h>

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

// ---- image_identity(): which build is running (issue 13 item 10) ----

namespace {
// The executable's build id as the file on disk says: an independent
// reading of the same note, from /proc/self/exe instead of memory.
std::string build_id_from_file() {
  std::ifstream in("/proc/self/exe", std::ios::binary);
  std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ElfW(Ehdr) header;
  std::memcpy(&header, file.data(), sizeof header);
  for (int i = 0; i < header.e_phnum; ++i) {
    ElfW(Phdr) segment;
    std::memcpy(&segment, file.data() + header.e_phoff + i * header.e_phentsize, sizeof segment);
    if (segment.p_type != PT_NOTE) continue;
    for (std::size_t at = segment.p_offset; at + sizeof(ElfW(Nhdr)) <= segment.p_offset + segment.p_filesz;) {
      ElfW(Nhdr) note;
      std::memcpy(&note, file.data() + at, sizeof note);
      const std::size_t name = at + sizeof note;
      const std::size_t desc = name + ((note.n_namesz + 3) & ~3u);
      if (note.n_type == NT_GNU_BUILD_ID && std::string(file.data() + name) == "GNU")
        return weft::detail::hex_of({file.data() + desc, note.n_descsz});
      at = desc + ((note.n_descsz + 3) & ~3u);
    }
  }
  return {};
}

dl_phdr_info executable_info() {
  dl_phdr_info out{};
  ::dl_iterate_phdr([](dl_phdr_info* info, std::size_t, void* o) { *static_cast<dl_phdr_info*>(o) = *info; return 1; },
                    &out);
  return out;
}
}  // namespace

TEST_CASE("image_identity names the executable by its ELF build id", "[detail]") {
  const std::string identity = weft::detail::image_identity();
  const std::string from_file = build_id_from_file();
  if (from_file.empty()) {
    WARN("skipped: this test executable was linked without a build id");
    return;
  }
  CHECK(identity == "build-id:" + from_file);
  CHECK(weft::detail::image_identity() == identity);  // stable
}

TEST_CASE("image_identity without a build id hashes the executable's code", "[detail]") {
  dl_phdr_info info = executable_info();
  std::vector<ElfW(Phdr)> headers(info.dlpi_phdr, info.dlpi_phdr + info.dlpi_phnum);
  for (auto& h : headers)
    if (h.p_type == PT_NOTE) h.p_type = PT_NULL;  // as if linked without --build-id
  info.dlpi_phdr = headers.data();
  const std::string identity = weft::detail::image_identity_of(info);
  CHECK(identity.rfind("text-fnv1a:", 0) == 0);
  CHECK(identity.size() == std::string("text-fnv1a:").size() + 16);
  CHECK(weft::detail::image_identity_of(info) == identity);  // deterministic
  CHECK(weft::detail::build_id_of(info).empty());
}

TEST_CASE("a library has an identity of its own", "[detail]") {
  // libc (the image holding std::abort) differs from the executable.
  struct search {
    std::uintptr_t address;
    std::string identity;
  } libc{reinterpret_cast<std::uintptr_t>(&std::abort), {}};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* s) {
        auto* want = static_cast<search*>(s);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& seg = info->dlpi_phdr[i];
          const std::uintptr_t first = info->dlpi_addr + seg.p_vaddr;
          if (seg.p_type == PT_LOAD && want->address >= first && want->address < first + seg.p_memsz) {
            want->identity = weft::detail::image_identity_of(*info);
            return 1;
          }
        }
        return 0;
      },
      &libc);
  REQUIRE_FALSE(libc.identity.empty());
  CHECK(libc.identity != weft::detail::image_identity());
}
