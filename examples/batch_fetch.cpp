// The Python tutorial's batch download, over local files (no network here):
// copy N files into an output directory on a thread_pool sized for IO, and
// report each file's status and time as soon as its copy finishes.
#include <weft/future.hpp>       // weft::as_completed
#include <weft/progress.hpp>     // weft::progress
#include <weft/thread_pool.hpp>  // weft::thread_pool, weft::default_workers

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

struct fetched {
  std::uintmax_t bytes;
  double ms;
};

// One "download": copy `from` to `to_dir`. Throws on failure (a missing
// source, a full disk); the future carries the exception to the caller.
fetched fetch(const fs::path& from, const fs::path& to_dir) {
  auto start = std::chrono::steady_clock::now();
  fs::copy_file(from, to_dir / from.filename(), fs::copy_options::overwrite_existing);
  return {fs::file_size(from), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()};
}

int main() {
  const fs::path root = fs::temp_directory_path() / ("weft_batch_fetch_" + std::to_string(::getpid()));
  const fs::path source = root / "remote", target = root / "downloads";
  fs::create_directories(source);
  fs::create_directories(target);

  std::vector<fs::path> urls;  // seven files that exist and one that does not
  for (int i = 0; i < 7; ++i) {
    urls.push_back(source / ("file" + std::to_string(i) + ".dat"));
    std::ofstream(urls.back()) << std::string(std::size_t{1} << (10 + i), 'x');  // 1 KB .. 64 KB
  }
  urls.push_back(source / "missing.dat");

  weft::thread_pool pool(weft::default_workers(weft::workload::io));  // IO-bound: more workers than cores
  std::vector<weft::future<fetched>> downloads;
  for (const auto& url : urls) downloads.push_back(pool.submit(fetch, url, target));

  int ok = 0, failed = 0;
  std::uintmax_t bytes = 0;
  // The bar (count, rate, ETA) shows on a terminal, or with WEFT_PROGRESS=1.
  auto completed = weft::progress(weft::as_completed(downloads), "downloads");
  for (auto it = completed.begin(); it != completed.end(); ++it) {
    const std::string name = urls[it.index()].filename().string();
    try {
      fetched f = it->get();
      std::printf("  %-12s ok     %6ju bytes  %.2f ms\n", name.c_str(), f.bytes, f.ms);
      bytes += f.bytes;
      ++ok;
    } catch (const fs::filesystem_error& e) {
      std::printf("  %-12s failed (%s)\n", name.c_str(), e.code().message().c_str());
      ++failed;
    }
  }
  std::printf("batch: %zu files requested, %d copied (%ju bytes), %d failed\n", urls.size(), ok, bytes, failed);
  fs::remove_all(root);
}
