#!/usr/bin/env python3
"""What including each public header costs, as a ratio to <thread>.

    include_cost.py CXX INCLUDE_DIR [--tbb] [--budget RATIO] [--skip NAME ...]

Compiles (-std=c++20 -O2, -fsyntax-only would hide template instantiation
cost) a file that only includes one header, three times, and keeps the
least CPU time of the compiler (user + sys of the child: less sensitive
to a busy machine than wall time). Prints every header's ratio to <thread>
and fails if one is above the budget: oneTBB's task_group.h +
concurrent_queue.h (when --tbb and installed) times --slack, or --budget
otherwise. The slack (default 1.3) absorbs the noise of a busy 2-core
machine, so the test catches a regression (a heavy standard header pulled
in) rather than timing jitter.
"""
import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile

TBB_PAIR = ["oneapi/tbb/task_group.h", "oneapi/tbb/concurrent_queue.h"]


def cpu_seconds(cxx, include_dir, headers, runs=3):
    """Least CPU time over `runs` compiles of a file including `headers`."""
    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "tu.cpp"
        source.write_text("".join(f"#include <{h}>\n" for h in headers))
        best = None
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run([cxx, "-std=c++20", "-O2", "-I", include_dir, "-c", str(source),
                                   "-o", os.devnull], capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                return None, done.stderr
            spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best = spent if best is None else min(best, spent)
        return best, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cxx")
    ap.add_argument("include_dir")
    ap.add_argument("--tbb", action="store_true", help="budget = oneTBB's pair, when installed")
    ap.add_argument("--budget", type=float, default=3.5, help="ratio to <thread> without oneTBB")
    ap.add_argument("--slack", type=float, default=1.3, help="factor on oneTBB's ratio (noise)")
    ap.add_argument("--skip", nargs="*", default=[], help="headers not to measure (e.g. mpi_pool)")
    ap.add_argument("--aggregate", nargs="*", default=["weft", "compare"],
                    help="headers that bundle others (reported, not held to the budget)")
    args = ap.parse_args()

    baseline, _ = cpu_seconds(args.cxx, args.include_dir, ["thread"])
    budget, budget_name = args.budget, f"--budget {args.budget}"
    if args.tbb:
        tbb, _ = cpu_seconds(args.cxx, args.include_dir, TBB_PAIR)
        if tbb is not None:
            budget = tbb / baseline * args.slack
            budget_name = f"oneTBB task_group.h + concurrent_queue.h = {tbb / baseline:.2f}x, times {args.slack}"
    print(f"<thread>: {baseline:.2f} s CPU; budget {budget:.2f}x <thread> ({budget_name})")

    over = []
    headers = sorted(pathlib.Path(args.include_dir, "weft").glob("*.hpp"))
    for header in headers:
        if header.stem in args.skip:
            continue
        seconds, error = cpu_seconds(args.cxx, args.include_dir, [f"weft/{header.name}"])
        if seconds is None:
            print(f"<weft/{header.name}> does not compile on its own:\n{error}")
            over.append(header.name)
            continue
        ratio = seconds / baseline
        bundled = header.stem in args.aggregate
        mark = "  (bundles other headers)" if bundled else "  OVER BUDGET" if ratio > budget else ""
        print(f"<weft/{header.name}>: {seconds:.2f} s CPU, {ratio:.2f}x <thread>{mark}")
        if ratio > budget and not bundled:
            over.append(header.name)
    if over:
        sys.exit(f"include_cost: over budget: {', '.join(over)}")
    print("include_cost: every header within budget")


if __name__ == "__main__":
    main()
