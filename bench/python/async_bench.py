#!/usr/bin/env python3
"""The Python asyncio side of weft-bench's async/ family, on the same machine,
and the comparison with weft and Asio.

    /usr/bin/python3 bench/python/async_bench.py [--weft-bench PATH | --weft-json FILE]

Measures, as bench/async.cpp does:
  sleep_semaphore  10,000 tasks under asyncio.Semaphore(1000), each sleeping
                   100 ms: wall time against the 1.0 s ideal, and the peak
                   RSS of this process (VmHWM after a reset through
                   /proc/self/clear_refs) and its growth during the run;
  spawn_await      asyncio.create_task for 200,000 trivial coroutines, then
                   await each one's result in order: tasks/s;
  http_get         loopback HTTP GETs/s with aiohttp (Debian python3-aiohttp):
                   100 keep-alive connections, 100 requests each, server and
                   client on one loop (skipped when aiohttp is missing).
With --weft-bench (a weft-bench binary: runs its ^async/ benchmarks) or
--weft-json (Google Benchmark JSON holding async/ rows, e.g. from
`weft-bench --benchmark_filter=^async/ --benchmark_out=FILE`), also prints
weft ÷ Python and weft ÷ Asio for each measure (above 1: weft is better;
for times and memory the ratio is inverted so that this holds).
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

SLEEPERS, PERMITS, NAP, IDEAL = 10_000, 1_000, 0.1, 1.0
TRIVIAL = 200_000


def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


async def sleep_semaphore():
    sem = asyncio.Semaphore(PERMITS)
    done = 0

    async def sleeper():
        nonlocal done
        async with sem:
            await asyncio.sleep(NAP)
        done += 1

    await asyncio.gather(*(sleeper() for _ in range(SLEEPERS)))
    return done


async def trivial(i):
    return i


async def spawn_await():
    tasks = [asyncio.create_task(trivial(i)) for i in range(TRIVIAL)]
    total = 0
    for t in tasks:
        total += await t
    return total


CONNECTIONS, REQUESTS_PER_CONNECTION = 100, 100


async def http_get():
    from aiohttp import ClientSession, TCPConnector, web

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
    answered = 0
    async with ClientSession(connector=TCPConnector(limit=CONNECTIONS)) as session:
        async def client():
            nonlocal answered
            for _ in range(REQUESTS_PER_CONNECTION):
                async with session.get(url) as response:
                    await response.read()
                    answered += response.status == 200
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CONNECTIONS)))
        seconds = time.perf_counter() - start
    await runner.cleanup()
    assert answered == CONNECTIONS * REQUESTS_PER_CONNECTION
    return answered / seconds


def measure_python():
    reset = reset_peak_rss()
    before = status_kib("VmRSS:")
    start = time.perf_counter()
    assert asyncio.run(sleep_semaphore()) == SLEEPERS
    wall = time.perf_counter() - start
    peak = status_kib("VmHWM:")
    sleep = {"wall_s": wall, "vs_ideal": wall / IDEAL, "peak_rss_MiB": peak / 1024 if reset else float("nan"),
             "rss_growth_MiB": (peak - before) / 1024 if reset else float("nan")}
    rates = []
    for _ in range(3):  # best of 3, as a benchmark library would settle on
        start = time.perf_counter()
        assert asyncio.run(spawn_await()) == TRIVIAL * (TRIVIAL - 1) // 2
        rates.append(TRIVIAL / (time.perf_counter() - start))
    result = {"sleep_semaphore": sleep, "spawn_await": {"items_per_second": max(rates)}}
    try:
        import aiohttp  # noqa: F401
        result["http_get"] = {"items_per_second": max(asyncio.run(http_get()) for _ in range(2))}
    except ImportError:
        print("async_bench.py: aiohttp missing (Debian: python3-aiohttp): no http_get row", file=sys.stderr)
    return result


def load_rows(raw):
    """{impl: {case: {counter: value}}} from Google Benchmark JSON."""
    rows = {}
    for b in raw.get("benchmark", raw).get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        parts = b["name"].split("/")
        if len(parts) < 3 or parts[0] != "async":
            continue
        rows.setdefault(parts[1], {})[parts[2]] = b
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weft-bench", help="a weft-bench binary: run its async/ benchmarks")
    ap.add_argument("--weft-json", help="Google Benchmark JSON with async/ rows")
    args = ap.parse_args()
    py = measure_python()
    s, r = py["sleep_semaphore"], py["spawn_await"]
    print(f"python/asyncio/sleep_semaphore  wall_s={s['wall_s']:.3f} vs_ideal={s['vs_ideal']:.3f} "
          f"peak_rss_MiB={s['peak_rss_MiB']:.1f} rss_growth_MiB={s['rss_growth_MiB']:.1f}")
    print(f"python/asyncio/spawn_await      items_per_second={r['items_per_second']:,.0f}")
    h = py.get("http_get")
    if h:
        print(f"python/aiohttp/http_get         items_per_second={h['items_per_second']:,.0f}")
    print(f"(Python {sys.version.split()[0]}, {sys.executable})")

    raw = None
    if args.weft_bench:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "async.json")
            done = subprocess.run([args.weft_bench, "--benchmark_filter=^async/", f"--benchmark_out={out}",
                                   "--benchmark_out_format=json"], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"async_bench.py: {args.weft_bench} failed ({done.returncode}):\n{done.stderr}")
            with open(out) as f:
                raw = json.load(f)
    elif args.weft_json:
        with open(args.weft_json) as f:
            raw = json.load(f)
    if raw is None:
        return 0
    rows = load_rows(raw)
    if "weft" not in rows:
        sys.exit("async_bench.py: no async/weft/ rows in the weft-bench results")
    peers = {"python": {"sleep_semaphore": s, "spawn_await": r, "http_get": py.get("http_get", {})}}
    if "asio" in rows:
        peers["asio"] = rows["asio"]
    # (case, measure, higher is better)
    measures = [("sleep_semaphore", "wall_s", False), ("sleep_semaphore", "peak_rss_MiB", False),
                ("sleep_semaphore", "rss_growth_MiB", False), ("spawn_await", "items_per_second", True),
                ("http_get", "items_per_second", True)]
    print()
    fmt = lambda v: f"{v:>14,.0f}" if v >= 1000 else f"{v:>14.3f}"
    header = f"{'measure':<32}{'weft':>14}" + "".join(f"{name:>14}" for name in peers)
    header += "".join(f"{'weft÷' + name:>13}" for name in peers)
    print(header)
    for case, key, higher in measures:
        w = rows["weft"].get(case, {}).get(key)
        if w is None:
            continue
        values = [peers[p].get(case, {}).get(key) for p in peers]
        line = f"{case + ' ' + key:<32}{fmt(w)}" + "".join(fmt(v) if v is not None else f"{'—':>14}" for v in values)
        for v in values:
            ratio = None if v is None or not w or not v else (w / v if higher else v / w)
            line += f"{ratio:>12.2f}x" if ratio is not None else f"{'—':>13}"
        print(line)
    print("(ratios: above 1 means weft is better — more tasks/s, or less time or memory)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
