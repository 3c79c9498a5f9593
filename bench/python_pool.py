#!/usr/bin/env python3
"""The Python side of weft's process_pool comparison, on the same machine.

    python3 bench/python_pool.py

Prints the rates of ProcessPoolExecutor.submit().result() (compare with
process/weft/roundtrip), of 5000 submits then .result() of each on 2 workers
(compare with process/weft/roundtrip_batch) and multiprocessing.Pool.map(chunksize=256) over
100k ints (compare with process/weft/map_chunked), in the same units as
weft-bench's items_per_second.
"""
import concurrent.futures
import multiprocessing
import os
import time


def identity(x):
    return x


def double(x):
    return x * 2


def rate(fn, items, min_seconds=1.0):
    count, start = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return items * count / elapsed


def main():
    workers = len(os.sched_getaffinity(0))
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as ex:
        ex.submit(identity, 0).result()  # warm up the worker
        rt = rate(lambda: ex.submit(identity, 1).result(), 1)
    print(f"python/ProcessPoolExecutor/roundtrip  items_per_second={rt:,.0f}")

    def batch(ex, n=5000):
        futures = [ex.submit(identity, i) for i in range(n)]
        for f in futures:
            f.result()

    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as ex:
        batch(ex, 100)  # warm up the workers
        rb = rate(lambda: batch(ex), 5000)
    print(f"python/ProcessPoolExecutor/roundtrip_batch  items_per_second={rb:,.0f}")
    items = list(range(100_000))
    with multiprocessing.Pool(workers) as pool:
        pool.map(double, items, chunksize=256)
        mc = rate(lambda: pool.map(double, items, chunksize=256), len(items))
    print(f"python/Pool/map_chunked               items_per_second={mc:,.0f}")


if __name__ == "__main__":
    main()
