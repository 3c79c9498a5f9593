"""Python counterpart of examples/shared_state_processes.cpp: worker
processes of a multiprocessing.Pool report through a multiprocessing.Queue
(maxsize 4) while the parent reads it, and add to a shared total in a
multiprocessing.Value; both reach the workers through the Pool initializer."""
import multiprocessing as mp
import os


def share(queue, total):
    global reports, shared_total
    reports, shared_total = queue, total


def work(task):
    result = sum(i % 7 for i in range(task * 1000 + 1))
    with shared_total.get_lock():  # += on a Value is a read and a write
        shared_total.value += result
    reports.put((task, os.getpid(), result))
    return result


def main():
    tasks = 12
    queue = mp.Queue(4)  # small on purpose: workers block until the parent reads
    total = mp.Value("l", 0)
    with mp.Pool(3, initializer=share, initargs=(queue, total)) as pool:
        futures = [pool.apply_async(work, (t,)) for t in range(tasks)]
        from_reports, pids = 0, set()
        for _ in range(tasks):
            _, pid, result = queue.get()  # blocks until some worker puts
            from_reports += result
            pids.add(pid)
        from_futures = sum(f.get() for f in futures)
    print(f"received {tasks} reports from {len(pids)} worker process(es), none from the parent: "
          f"{'no' if os.getpid() in pids else 'yes'}")
    consistent = total.value == from_reports == from_futures
    print(f"shared total {total.value}, sum of reports {from_reports}, sum of results {from_futures}: "
          f"{'consistent' if consistent else 'MISMATCH'}")


if __name__ == "__main__":
    main()
