"""Python counterpart of examples/thread_safe_counter.cpp: four threads
count 100000 times each, into one counter behind a threading.Lock (read
often) and into per-thread counts summed at the end (write-heavy)."""
import threading


def main():
    threads, per_thread = 4, 100000
    lock = threading.Lock()
    exact = 0
    per_thread_counts = [0] * threads

    def work(t):
        nonlocal exact
        for _ in range(per_thread):
            with lock:  # one shared counter: every increment takes the lock
                exact += 1
            per_thread_counts[t] += 1  # each thread its own slot: nothing shared

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"locked counter: {exact} (expected {threads * per_thread})")
    print(f"per-thread counts: {sum(per_thread_counts)} over {threads} threads")


if __name__ == "__main__":
    main()
