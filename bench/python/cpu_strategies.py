"""Python counterpart of examples/cpu_strategies.cpp: four equal CPU-bound
tasks run serially, on a ThreadPoolExecutor and on a ProcessPoolExecutor
with one worker per usable core, with wall-clock times and speedups.
Threads do not speed this up in CPython: the GIL runs one at a time."""
import concurrent.futures as cf
import os
import sys
import time


def cpu_task(n):
    return sum(i * i for i in range(n))


def timed(strategy):
    start = time.perf_counter()
    results = list(strategy())
    return results, time.perf_counter() - start


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    tasks = [size] * 4
    workers = len(os.sched_getaffinity(0))

    serial, t_serial = timed(lambda: map(cpu_task, tasks))
    with cf.ThreadPoolExecutor(max_workers=workers) as threads:
        threaded, t_threads = timed(lambda: threads.map(cpu_task, tasks))
    with cf.ProcessPoolExecutor(max_workers=workers) as processes:
        forked, t_processes = timed(lambda: processes.map(cpu_task, tasks))

    print(f"{workers} workers, 4 tasks of {size} iterations")
    print(f"serial:    {t_serial * 1e3:7.1f} ms")
    print(f"threads:   {t_threads * 1e3:7.1f} ms  speedup {t_serial / t_threads:.2f}x")
    print(f"processes: {t_processes * 1e3:7.1f} ms  speedup {t_serial / t_processes:.2f}x")
    print(f"each task: {serial[0]}")
    agree = serial == threaded == forked
    print(f"all three strategies agree: {'yes' if agree else 'NO'}")
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
