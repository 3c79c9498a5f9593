// Must not compile as C++17: one #error naming C++20.
#include <weft/thread_pool.hpp>
int main() { return 0; }
