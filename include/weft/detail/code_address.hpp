// weft — MIT licence. See LICENSE.
//
// <weft/detail/code_address.hpp> — internal: names a function so that
// another process running the same binary can find it, despite ASLR. Not API.
//
// A code word is (index of the loaded image, in the loader's order) << 48 |
// (offset of the function from that image's base). Two processes that run
// the same executable with the same libraries load the same images in the
// same order, so the word means the same function in both; mpi_pool checks
// that at start-up. Decoding accepts only addresses inside an executable
// segment, so a corrupted word is rejected instead of being called.
//
// image_identity() names the build of the running executable, so that two
// processes can check that they run the same binary before trusting each
// other's code words.
#pragma once

#if !defined(__linux__) && !defined(__FreeBSD__)
#error "weft's code addresses need dl_iterate_phdr (Linux, FreeBSD)"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <link.h>

namespace weft::detail {

class image_table {
 public:
  // The images loaded now.
  static image_table current() {
    image_table table;
    ::dl_iterate_phdr(&image_table::add_image, &table);
    return table;
  }

  std::optional<std::uint64_t> encode(std::uintptr_t address) const noexcept {
    for (std::size_t i = 0; i < images_.size(); ++i)
      if (images_[i].contains(address)) return (std::uint64_t{i} << offset_bits) | (address - images_[i].base);
    return std::nullopt;
  }

  std::optional<std::uintptr_t> decode(std::uint64_t word) const noexcept {
    const std::size_t index = static_cast<std::size_t>(word >> offset_bits);
    if (index >= images_.size()) return std::nullopt;
    const std::uintptr_t address = images_[index].base + static_cast<std::uintptr_t>(word & offset_mask);
    if (!images_[index].contains(address)) return std::nullopt;
    return address;
  }

 private:
  static constexpr int offset_bits = 48;
  static constexpr std::uint64_t offset_mask = (std::uint64_t{1} << offset_bits) - 1;

  struct range {
    std::uintptr_t first, last;  // [first, last)
  };
  struct image {
    std::uintptr_t base;
    std::vector<range> code;  // executable segments
    bool contains(std::uintptr_t address) const noexcept {
      for (const auto& r : code)
        if (address >= r.first && address < r.last) return true;
      return false;
    }
  };

  static int add_image(dl_phdr_info* info, std::size_t, void* self) {
    image img{static_cast<std::uintptr_t>(info->dlpi_addr), {}};
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      const auto& segment = info->dlpi_phdr[i];
      if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
      const std::uintptr_t first = img.base + static_cast<std::uintptr_t>(segment.p_vaddr);
      img.code.push_back({first, first + static_cast<std::uintptr_t>(segment.p_memsz)});
    }
    static_cast<image_table*>(self)->images_.push_back(std::move(img));
    return 0;  // keep iterating
  }

  std::vector<image> images_;
};

// ---- the identity of the build ----

// "build-id:<hex>" from the executable's ELF NT_GNU_BUILD_ID note (the
// linker's hash of the whole binary), or, for a binary linked without one,
// "text-fnv1a:<hex>", a 64-bit FNV-1a hash of its executable segments as
// loaded. Equal strings mean the same executable file (libraries are not
// included). Thread-safe; cost: one dl_iterate_phdr walk (and, for the
// fallback, one pass over the code); no system call beyond the loader's.
std::string image_identity();

// The identity of one loaded image, as image_identity() describes.
std::string image_identity_of(const dl_phdr_info& image);

// The NT_GNU_BUILD_ID descriptor bytes of a loaded image; empty if it has none.
std::string_view build_id_of(const dl_phdr_info& image) noexcept;

// ---- implementation ----

inline std::string hex_of(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

inline std::string_view build_id_of(const dl_phdr_info& image) noexcept {
  constexpr std::uint32_t nt_gnu_build_id = 3;
  const auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
  for (int i = 0; i < image.dlpi_phnum; ++i) {
    const auto& segment = image.dlpi_phdr[i];
    if (segment.p_type != PT_NOTE) continue;
    const char* at = reinterpret_cast<const char*>(image.dlpi_addr + segment.p_vaddr);
    const char* end = at + segment.p_memsz;
    while (static_cast<std::size_t>(end - at) >= sizeof(ElfW(Nhdr))) {  // notes: header, name, descriptor
      ElfW(Nhdr) note;
      std::memcpy(&note, at, sizeof note);
      const char* name = at + sizeof note;
      const char* desc = name + align4(note.n_namesz);
      const char* next = desc + align4(note.n_descsz);
      if (next > end || next < at) break;  // a malformed note ends the segment
      if (note.n_type == nt_gnu_build_id && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0)
        return {desc, note.n_descsz};
      at = next;
    }
  }
  return {};
}

inline std::string image_identity_of(const dl_phdr_info& image) {
  if (auto id = build_id_of(image); !id.empty()) return "build-id:" + hex_of(id);
  std::uint64_t hash = 0xcbf29ce484222325;  // FNV-1a 64 offset basis
  for (int i = 0; i < image.dlpi_phnum; ++i) {
    const auto& segment = image.dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
    const auto* code = reinterpret_cast<const unsigned char*>(image.dlpi_addr + segment.p_vaddr);
    for (std::size_t b = 0; b < segment.p_filesz; ++b) hash = (hash ^ code[b]) * 0x100000001b3;  // FNV prime
  }
  char bytes[sizeof hash];
  std::memcpy(bytes, &hash, sizeof hash);
  return "text-fnv1a:" + hex_of({bytes, sizeof bytes});
}

inline std::string image_identity() {
  std::string identity;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) {
        *static_cast<std::string*>(out) = image_identity_of(*info);
        return 1;  // the first image is the executable: stop
      },
      &identity);
  return identity;
}

}  // namespace weft::detail
