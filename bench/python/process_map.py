"""Python counterpart of examples/process_map.cpp: Pool.map(cpu_task, ...)
with chunks of two, then four tasks whose results arrive as they complete."""
import multiprocessing as mp
import os


def cpu_task(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def main():
    with mp.Pool() as pool:
        results = pool.map(cpu_task, [k * 100000 for k in range(10)], chunksize=2)
        print(f"map: {len(results)} results, first {results[0]}, last {results[-1]}")
        pids = [pool.apply_async(os.getpid) for _ in range(4)]
        from_workers = sum(p.get() != os.getpid() for p in pids)
        print(f"as_completed: {from_workers} of 4 ran in worker processes")


if __name__ == "__main__":
    main()
