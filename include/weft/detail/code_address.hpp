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
#pragma once

#if !defined(__linux__) && !defined(__FreeBSD__)
#error "weft's code addresses need dl_iterate_phdr (Linux, FreeBSD)"
#endif

#include <cstddef>
#include <cstdint>
#include <optional>
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

}  // namespace weft::detail
