"""Python counterpart of examples/async_orchestration.cpp: asyncio.wait_for
on one call, asyncio.gather under wait_for (an overall timeout), and a
FIRST_COMPLETED race whose losers are cancelled and awaited."""
import asyncio


class Tally:
    def __init__(self):
        self.finished = 0   # children that ended, however
        self.cancelled = 0  # children that saw CancelledError


async def lookup(value, delay, t):
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        t.cancelled += 1
        raise
    finally:
        t.finished += 1
    return value


async def mirror(name, delay, t):
    await lookup(0, delay, t)
    return "payload from " + name


async def main():
    # 1. wait_for: the result in time, else the call is cancelled.
    one = Tally()
    fast = await asyncio.wait_for(lookup(42, 0.005, one), 1)
    print(f"wait_for: fast lookup -> {fast}")
    try:
        await asyncio.wait_for(lookup(7, 10, one), 0.05)
    except asyncio.TimeoutError:
        print(f"wait_for: slow lookup timed out after 50 ms; cancelled: {'yes' if one.cancelled == 1 else 'no'}")

    # 2. gather, and gather under an overall timeout.
    two = Tally()
    a, b, c = await asyncio.wait_for(
        asyncio.gather(lookup(10, 0.01, two), lookup(20, 0.02, two), lookup(30, 0.03, two)), 1)
    print(f"gather: [{a}, {b}, {c}] within 1000 ms")
    three = Tally()
    try:
        await asyncio.wait_for(
            asyncio.gather(lookup(10, 0.01, three), lookup(20, 0.02, three), lookup(30, 10, three)), 0.1)
    except asyncio.TimeoutError:
        print(f"gather under 100 ms: timed out; {three.finished} of 3 children finished, "
              f"{three.cancelled} cancelled")

    # 3. A race: the first to finish wins; the losers are cancelled and
    #    awaited, so none outlives the race (what weft::first_of does).
    four = Tally()
    racers = [asyncio.create_task(mirror(name, delay, four))
              for name, delay in (("mirror-a", 0.08), ("mirror-b", 0.02), ("mirror-c", 0.15))]
    done, pending = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
    for p in pending:
        p.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    winner = next(iter(done))
    print(f"race: mirror {racers.index(winner) + 1} of 3 won with \"{winner.result()}\"; "
          f"{four.cancelled} losers cancelled, {four.finished} of 3 finished")


if __name__ == "__main__":
    asyncio.run(main())
