// Walk a directory and count bytes, lines and words per file in worker
// processes; the per-file results are a struct that crosses the process
// boundary through a weft::serializer specialization. A progress bar counts
// the finished batches on a terminal (or with WEFT_PROGRESS=1).
// Usage: ./parallel_file_stats [directory]   (default: weft's own sources)
#include <weft/future.hpp>        // weft::future, weft::as_completed
#include <weft/process_pool.hpp>  // weft::process_pool
#include <weft/progress.hpp>      // weft::progress
#include <weft/serialize.hpp>     // weft::serializer, weft::writer, weft::reader

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

struct file_stats {
  std::string path;
  std::uint64_t bytes = 0, lines = 0, words = 0;
};

// Teach weft to send file_stats between processes (std::string inside makes
// it not trivially copyable, so it needs a serializer).
template <>
struct weft::serializer<file_stats> {
  static void write(weft::writer& w, const file_stats& s) {
    w.write(s.path);
    w.write(s.bytes);
    w.write(s.lines);
    w.write(s.words);
  }
  static file_stats read(weft::reader& r) {
    file_stats s;
    s.path = r.read<std::string>();
    s.bytes = r.read<std::uint64_t>();
    s.lines = r.read<std::uint64_t>();
    s.words = r.read<std::uint64_t>();
    return s;
  }
};

// Runs in a worker process.
file_stats count(std::string path) {
  file_stats s{path};
  // Read the whole file in one go: a char at a time through istream::get
  // made this example twice as slow.
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(std::filesystem::file_size(path)), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  s.bytes = text.size();
  bool in_word = false;
  for (char c : text) {
    s.lines += c == '\n';
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    s.words += !space && !in_word;
    in_word = !space;
  }
  return s;
}

// Runs in a worker process: one batch of files, one message each way.
std::vector<file_stats> count_batch(std::vector<std::string> paths) {
  std::vector<file_stats> batch;
  batch.reserve(paths.size());
  for (auto& path : paths) batch.push_back(count(std::move(path)));
  return batch;
}

int main(int argc, char** argv) {
  const std::filesystem::path root = argc > 1 ? argv[1] : WEFT_EXAMPLE_SOURCE_DIR;
  // The pool starts first and gets a batch of 32 files as soon as the walk
  // has found them, so the workers count while the walk goes on. A message
  // per file would cost more than counting a small file.
  constexpr std::size_t files_per_batch = 32;
  weft::process_pool pool;
  std::vector<weft::future<std::vector<file_stats>>> batches;
  std::vector<std::string> found;  // the next batch
  std::size_t files = 0;
  std::uint64_t listed_bytes = 0;  // what the directory listing says, to check the workers
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.is_symlink()) continue;  // each file once, not via its links
    found.push_back(entry.path().string());
    listed_bytes += entry.file_size();
    ++files;
    if (found.size() == files_per_batch) batches.push_back(pool.submit(count_batch, std::exchange(found, {})));
  }
  if (!found.empty()) batches.push_back(pool.submit(count_batch, std::move(found)));

  std::vector<file_stats> stats;
  stats.reserve(files);
  const std::string label = "batches of " + std::to_string(files_per_batch) + " files";
  for (auto& batch : weft::progress(weft::as_completed(batches), batches.size(), label))
    for (auto& s : batch.get()) stats.push_back(std::move(s));

  file_stats total{"total"};
  for (const auto& s : stats) {
    total.bytes += s.bytes;
    total.lines += s.lines;
    total.words += s.words;
  }
  std::sort(stats.begin(), stats.end(),  // most lines first; ties by path, as batches finish in any order
            [](auto& a, auto& b) { return a.lines != b.lines ? a.lines > b.lines : a.path < b.path; });
  std::printf("largest files under %s:\n", root.string().c_str());
  for (std::size_t i = 0; i < std::min<std::size_t>(3, stats.size()); ++i)
    std::printf("  %6llu lines  %s\n", static_cast<unsigned long long>(stats[i].lines),
                std::filesystem::relative(stats[i].path, root).string().c_str());
  std::printf("files: %zu, lines: %llu, words: %llu, bytes: %llu\n", files,
              static_cast<unsigned long long>(total.lines), static_cast<unsigned long long>(total.words),
              static_cast<unsigned long long>(total.bytes));
  std::printf("bytes match the directory listing: %s\n", total.bytes == listed_bytes ? "yes" : "NO");
}
