"""Python counterpart of examples/bounded_concurrency.cpp: 20 IO-like jobs,
at most 4 in flight, with asyncio.Semaphore and gather(return_exceptions=True)
so that one failed job does not hide the others."""
import asyncio


async def main():
    jobs, limit = 20, 4
    semaphore = asyncio.Semaphore(limit)
    in_flight = peak = 0

    async def fetch(job):
        nonlocal in_flight, peak
        async with semaphore:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.005)  # the "network"
            in_flight -= 1
            if job % 7 == 3:
                raise TimeoutError(f"job {job}: timed out")
            return f"body of job {job}"

    results = await asyncio.gather(*(fetch(job) for job in range(jobs)), return_exceptions=True)
    failed = sum(isinstance(r, Exception) for r in results)
    print(f"{jobs} jobs: {jobs - failed} ok, {failed} failed, at most {peak} in flight (limit {limit})")


if __name__ == "__main__":
    asyncio.run(main())
