// weft — MIT licence. See LICENSE.
// libFuzzer target: decoding arbitrary bytes must either succeed or throw
// weft::protocol_error, and never read out of bounds (built with ASan).
#include <weft/serialize.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace {
enum class kind : std::uint8_t { a, b };
using message = std::variant<std::vector<std::string>, std::map<std::string, std::optional<std::int64_t>>,
                             std::tuple<bool, kind, std::vector<double>>, std::pair<std::string, std::array<int, 3>>,
                             // wide elements, short encodings: a corrupt count must not reserve
                             // count x sizeof (issue 13 item 9; bad_alloc would escape and abort)
                             std::vector<std::array<std::string, 64>>>;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    message m = weft::deserialize<message>(bytes);
    // Whatever decodes must survive a round trip. (Not byte for byte: a map
    // given duplicate keys decodes to fewer entries; compare canonical forms.)
    auto canonical = weft::serialize(m);
    if (weft::serialize(weft::deserialize<message>(canonical)) != canonical) __builtin_trap();
  } catch (const weft::protocol_error&) {
  }
  return 0;
}
