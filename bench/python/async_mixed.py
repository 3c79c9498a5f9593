"""Python counterpart of examples/async_mixed.cpp: CPU work on a
ProcessPoolExecutor(2) awaited through loop.run_in_executor, while the
same event loop keeps serving a 10 ms ticker."""
import asyncio
import concurrent.futures
import time


def count_primes(n):
    count = 0
    for k in range(2, n):
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        count += prime
    return count


async def main():
    state = {"ticks": 0, "longest_gap": 0.0}

    async def ticker():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            state["longest_gap"] = max(state["longest_gap"], now - last)
            last = now
            state["ticks"] += 1

    loop = asyncio.get_running_loop()
    limits = [50000, 100000, 150000, 200000]
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        tick = asyncio.create_task(ticker())
        counts = await asyncio.gather(*(loop.run_in_executor(pool, count_primes, n) for n in limits))
        tick.cancel()
        await asyncio.gather(tick, return_exceptions=True)
    for n, c in zip(limits, counts):
        print(f"primes below {n}: {c}")
    gap_ms = int(state["longest_gap"] * 1000)
    print(f"ticks: {state['ticks']}, longest gap {gap_ms} ms")
    print(f"the loop kept ticking while the processes worked: {'yes' if state['ticks'] > 0 and gap_ms < 500 else 'no'}")


if __name__ == "__main__":
    asyncio.run(main())
