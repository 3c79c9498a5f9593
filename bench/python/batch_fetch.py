"""Python counterpart of examples/batch_fetch.cpp: copy eight files (one of
them missing) into a download directory on a ThreadPoolExecutor sized for
IO, reporting each file's status and time as soon as its copy finishes."""
import concurrent.futures as cf
import os
import shutil
import tempfile
import time


def fetch(source, to_dir):
    start = time.perf_counter()
    shutil.copyfile(source, os.path.join(to_dir, os.path.basename(source)))
    return os.path.getsize(source), (time.perf_counter() - start) * 1e3


def main():
    with tempfile.TemporaryDirectory(prefix="weft_batch_fetch_") as root:
        source, target = os.path.join(root, "remote"), os.path.join(root, "downloads")
        os.makedirs(source)
        os.makedirs(target)
        urls = []  # seven files that exist and one that does not
        for i in range(7):
            urls.append(os.path.join(source, f"file{i}.dat"))
            with open(urls[-1], "w") as f:
                f.write("x" * (1 << (10 + i)))  # 1 KB .. 64 KB
        urls.append(os.path.join(source, "missing.dat"))

        ok = failed = copied = 0
        workers = len(os.sched_getaffinity(0)) * 5  # IO-bound: more workers than cores
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            downloads = {pool.submit(fetch, url, target): url for url in urls}
            for done in cf.as_completed(downloads):
                name = os.path.basename(downloads[done])
                try:
                    size, ms = done.result()
                    print(f"  {name:<12} ok     {size:6d} bytes  {ms:.2f} ms")
                    copied += size
                    ok += 1
                except OSError as e:
                    print(f"  {name:<12} failed ({e.strerror})")
                    failed += 1
        print(f"batch: {len(urls)} files requested, {ok} copied ({copied} bytes), {failed} failed")


if __name__ == "__main__":
    main()
