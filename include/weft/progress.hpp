// weft — MIT licence. See LICENSE.
//
// <weft/progress.hpp> — weft::progress(range [, total] [, label]): a
// one-line progress bar on stderr around any input range (the results of
// imap, as_completed, a vector), like Python's tqdm.
#pragma once

#include <weft/detail/config.hpp>  // first: the C++20 check

#include <weft/detail/progress_meter.hpp>

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace weft {

// A range that yields what `Range` yields and draws a progress bar as it is
// consumed (like tqdm). Count, percent, rate, elapsed time and ETA, redrawn
// at most 10 times per second, on stderr, and only when stderr is a terminal
// or WEFT_PROGRESS=1 (WEFT_PROGRESS=0: never). The bar starts at begin(),
// and its line ends when the iteration reaches the end or the range is
// destroyed (a loop left early).
//
// Thread-safety: like the range it wraps; iterate it from one thread.
// Cost: one clock read per element; a redraw is one write to stderr.
// Lifetime: an lvalue range is referenced (it must outlive the loop); an
// rvalue range is moved in.
template <class Range>
class progress_range {
  using base_iterator = std::ranges::iterator_t<Range>;
  using base_sentinel = std::ranges::sentinel_t<Range>;

 public:
  progress_range(Range&& range, std::optional<std::size_t> total, std::string label)
      : range_(std::forward<Range>(range)), meter_(total, std::move(label)) {}

  class iterator {
   public:
    using value_type = std::iter_value_t<base_iterator>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    decltype(auto) operator*() const { return *it_; }
    auto operator->() const
      requires requires(const base_iterator& i) { i.operator->(); }
    {
      return it_.operator->();
    }
    // The wrapped iterator's position in its input, for as_completed.
    std::size_t index() const
      requires requires(const base_iterator& i) { i.index(); }
    {
      return it_.index();
    }
    iterator& operator++() {
      ++it_;
      meter_->step();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const {
      if (it_ != end_) return false;
      meter_->finish();
      return true;
    }

   private:
    friend class progress_range;
    iterator(base_iterator it, base_sentinel end, detail::progress_meter* meter)
        : it_(std::move(it)), end_(std::move(end)), meter_(meter) {}
    base_iterator it_{};
    base_sentinel end_{};
    detail::progress_meter* meter_ = nullptr;
  };

  iterator begin() {
    meter_.start();
    return iterator(std::ranges::begin(range_), std::ranges::end(range_), &meter_);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Range range_;  // a reference for lvalues
  detail::progress_meter meter_;
};

// Wraps `range` in a progress bar; `total` defaults to the range's size when
// it has one (else the bar shows count and rate only).
template <std::ranges::input_range Range>
progress_range<Range> progress(Range&& range, std::optional<std::size_t> total = std::nullopt,
                               std::string label = {}) {
  if (!total) {
    if constexpr (std::ranges::sized_range<Range>) total = static_cast<std::size_t>(std::ranges::size(range));
  }
  return progress_range<Range>(std::forward<Range>(range), total, std::move(label));
}
template <std::ranges::input_range Range>
progress_range<Range> progress(Range&& range, std::string label) {
  return progress(std::forward<Range>(range), std::nullopt, std::move(label));
}

}  // namespace weft
