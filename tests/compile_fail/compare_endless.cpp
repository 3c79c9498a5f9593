// Must not compile, with one error naming the fix: the serial round would
// walk a range that never ends forever.
#include <weft/compare.hpp>

#include "endless.hpp"

int twice(int x) { return 2 * x; }

int main() { weft::compare_strategies(twice, endless_ints{}); }
