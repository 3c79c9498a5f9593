#!/usr/bin/env python3
"""Compares two weft-bench result files benchmark by benchmark.

    bench/compare.py BEFORE.json AFTER.json [--filter REGEX]

Accepts the files scripts/bench writes (bench/results/<date>-<host>.json) or
raw Google Benchmark JSON. Prints items/s before and after and the ratio
(after / before; above 1 is faster).
"""
import argparse
import json
import re
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import rows_by_name  # noqa: E402


def load(path):
    with open(path) as f:
        data = json.load(f)
    return rows_by_name(data.get("benchmark", data))


def main():
    ap = argparse.ArgumentParser(description="compare two weft-bench result files")
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    before, after = load(args.before), load(args.after)
    names = [n for n in before if n in after and re.search(args.filter, n)]
    if not names:
        print("bench/compare.py: no benchmark in common", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    print(f"{'benchmark':<{width}}  {'before':>14}  {'after':>14}  {'after/before':>12}")
    for n in sorted(names):
        b, a = before[n].items_per_second, after[n].items_per_second  # medians over repetitions
        ratio = a / b if b else float("nan")
        print(f"{n:<{width}}  {b:>14,.0f}  {a:>14,.0f}  {ratio:>11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
