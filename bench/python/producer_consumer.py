"""Python counterpart of examples/producer_consumer.cpp: 2 producers,
3 consumers, queue.Queue(maxsize=100), task_done()/join(); Python's queue
has no close() before 3.13, so one sentinel per consumer ends them."""
import queue
import threading


def main():
    q = queue.Queue(maxsize=100)
    lock = threading.Lock()
    totals = {"consumed": 0, "sum": 0}

    def consume():
        while True:
            item = q.get()
            if item is None:
                q.task_done()
                return
            with lock:
                totals["consumed"] += 1
                totals["sum"] += item
            q.task_done()

    def produce(p):
        for i in range(p, 1000, 2):
            q.put(i)

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    producers = [threading.Thread(target=produce, args=(p,)) for p in range(2)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    q.join()
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join()
    print(f"consumed {totals['consumed']} items, sum {totals['sum']}")


if __name__ == "__main__":
    main()
