// multiprocessing.Array and Value in C++: four worker processes fill their
// part of a shared_array<double> and count their work in a shared_value<int>.
// Memory mapped before fork() is shared by every child.
#include <weft/shared_memory.hpp>  // weft::shared_array, weft::shared_value

#include <cstdio>
#include <sys/wait.h>
#include <unistd.h>

int main() {
  constexpr int workers = 4, per_worker = 5;
  weft::shared_array<double> squares(workers * per_worker, 0.0);
  weft::shared_value<int> done(0);

  for (int w = 0; w < workers; ++w) {
    if (::fork() == 0) {  // child: fill its slice, then leave with _exit
      for (int i = w * per_worker; i < (w + 1) * per_worker; ++i) {
        squares[i] = static_cast<double>(i) * i;  // distinct elements: no lock needed
        done.fetch_add(1);                        // atomic across processes
      }
      {
        auto guard = squares.lock();  // like Array(..., lock=True)
        squares[0] += 0;              // a compound update would go here
      }
      ::_exit(0);
    }
  }
  while (::wait(nullptr) > 0) {
  }
  double sum = 0;
  for (double v : squares) sum += v;
  std::printf("items done: %d, sum of squares 0..19: %.0f\n", done.load(), sum);
}
