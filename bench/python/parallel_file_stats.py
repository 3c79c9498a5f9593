"""Python counterpart of examples/parallel_file_stats.cpp: walk a directory
and count bytes, lines and words per file in a multiprocessing.Pool, 32
files per message (the example's batches). Words are runs of bytes other
than space, \\n, \\t, \\r."""
import multiprocessing as mp
import os
import re
import sys

WORD = re.compile(rb"[^ \n\t\r]+")


def count(path):
    with open(path, "rb") as f:
        data = f.read()
    return path, len(data), data.count(b"\n"), len(WORD.findall(data))


def main():
    root = sys.argv[1]
    paths, listed = [], 0
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            if os.path.isfile(p) and not os.path.islink(p):
                paths.append(p)
                listed += os.path.getsize(p)
    with mp.Pool() as pool:
        stats = pool.map(count, paths, chunksize=32)
    total_bytes = sum(s[1] for s in stats)
    stats.sort(key=lambda s: (-s[2], s[0]))
    print(f"largest files under {root}:")
    for path, _, lines, _ in stats[:3]:
        print(f"  {lines:6d} lines  {os.path.relpath(path, root)}")
    print(f"files: {len(paths)}, lines: {sum(s[2] for s in stats)}, words: {sum(s[3] for s in stats)}, "
          f"bytes: {total_bytes}")
    print(f"bytes match the directory listing: {'yes' if total_bytes == listed else 'NO'}")


if __name__ == "__main__":
    main()
