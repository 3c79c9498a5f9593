// Must not compile: a queue of a type that can be neither moved nor copied.
#include <weft/bounded_queue.hpp>
#include <mutex>
int main() { weft::bounded_queue<std::mutex> q(4); return static_cast<int>(q.size()); }
