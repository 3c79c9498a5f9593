"""Python counterpart of examples/async_producer_consumer.cpp: 2 producers
and 3 consumers on one event loop, asyncio.Queue(maxsize=10), task_done()
and join(). asyncio.Queue has no close() before 3.13, so the consumers are
cancelled once join() returns (the asyncio documentation's idiom)."""
import asyncio


async def main():
    queue = asyncio.Queue(maxsize=10)
    totals = {"consumed": 0, "sum": 0}

    async def consume():
        while True:
            item = await queue.get()
            totals["sum"] += item
            totals["consumed"] += 1
            await asyncio.sleep(0)  # "process" it; lets the others run
            queue.task_done()

    async def produce(p):
        for i in range(p, 1000, 2):
            await queue.put(i)

    consumers = [asyncio.create_task(consume()) for _ in range(3)]
    await asyncio.gather(produce(0), produce(1))
    await queue.join()
    all_done = totals["consumed"] == 1000
    for c in consumers:
        c.cancel()
    stopped = await asyncio.gather(*consumers, return_exceptions=True)
    print(f"consumed {totals['consumed']} items, sum {totals['sum']}")
    print(f"join returned with every item done; {len(stopped) if all_done else 0} consumers stopped")


if __name__ == "__main__":
    asyncio.run(main())
