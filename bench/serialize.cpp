// weft — MIT licence. See LICENSE.
// serialize/<type> — bytes/s (and messages/s as items_per_second) for a
// serialize + deserialize round trip of a vector<double>, a string map and a
// struct with nested containers.
#include <weft/serialize.hpp>

#include "harness.hpp"

#include <map>
#include <string>
#include <vector>

namespace weft_bench {
namespace {

struct order {
  std::string customer;
  std::vector<std::pair<std::string, int>> lines;
  double total;
};

}  // namespace
}  // namespace weft_bench

template <>
struct weft::serializer<weft_bench::order> {
  static void write(weft::writer& w, const weft_bench::order& o) {
    w.write(o.customer);
    w.write(o.lines);
    w.write(o.total);
  }
  static weft_bench::order read(weft::reader& r) {
    weft_bench::order o;
    o.customer = r.read<std::string>();
    o.lines = r.read<std::vector<std::pair<std::string, int>>>();
    o.total = r.read<double>();
    return o;
  }
};

namespace weft_bench {
namespace {

template <class T>
void bm_round_trip(benchmark::State& state, const T& value) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto encoded = weft::serialize(value);
    auto decoded = weft::deserialize<T>(encoded);
    benchmark::DoNotOptimize(decoded);
    bytes = encoded.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

void register_serialize() {
  add("serialize/vector_double", [](benchmark::State& s) {
    bm_round_trip(s, std::vector<double>(1 << 16, 1.5));
  })->Unit(benchmark::kMicrosecond);
  add("serialize/string_map", [](benchmark::State& s) {
    std::map<std::string, std::string> m;
    for (int i = 0; i < 1000; ++i) m["key-" + std::to_string(i)] = std::string(32, 'v');
    bm_round_trip(s, m);
  })->Unit(benchmark::kMicrosecond);
  add("serialize/struct", [](benchmark::State& s) {
    order o{"ada", {{"widget", 2}, {"gadget", 5}, {"gizmo", 1}}, 99.5};
    bm_round_trip(s, o);
  })->Unit(benchmark::kMicrosecond);
}

}  // namespace weft_bench
