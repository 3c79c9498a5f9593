// Must not compile: a counter of a floating-point type.
#include <weft/atomic_counter.hpp>
int main() { weft::atomic_counter<double> c; return static_cast<int>(c.value()); }
