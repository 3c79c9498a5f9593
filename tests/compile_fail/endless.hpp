// An input whose type says it never ends (its end is
// std::unreachable_sentinel_t, as std::views::iota(0)'s), written out
// because libc++ 14 ships neither iota_view nor subrange.
#pragma once

#include <cstddef>
#include <iterator>

struct endless_ints {
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int value = 0;
    int operator*() const { return value; }
    iterator& operator++() {
      ++value;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++value;
      return before;
    }
    bool operator==(const iterator&) const = default;
  };
  iterator begin() const { return {}; }
  std::unreachable_sentinel_t end() const { return {}; }
};
