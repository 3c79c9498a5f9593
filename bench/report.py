#!/usr/bin/env python3
"""Turns weft-bench's Google Benchmark JSON into the strategy comparison:
a table people read in five seconds, a result file with machine facts, and
an SVG chart (speedup vs workers for CPU-bound and IO-bound work).

    bench/report.py RAW.json OUT_DIR --compiler "GNU 12.2.0" [--quick]
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import sys


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def rows_by_name(raw):
    """One row per benchmark: the median when it ran with repetitions."""
    out = {}
    for b in raw.get("benchmarks", []):
        if "error_occurred" in b:
            continue
        kind = b.get("run_type", "iteration")
        if kind == "aggregate" and b.get("aggregate_name") != "median":
            continue
        # Drop Google Benchmark's suffixes: /min_time:0.200/repeats:5/real_time.
        name = "/".join(part for part in b.get("run_name", b["name"]).split("/")
                        if part != "real_time" and not part.startswith(("min_time:", "repeats:")))
        if kind == "iteration" and name in out:
            continue  # keep the median if both are present
        out[name] = b
    return out


def ms(b):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def strategy_table(rows, cores):
    serial = rows.get("cpu/serial")
    if serial is None:
        return []
    base = ms(serial)
    table = []
    for name, label in [("cpu/serial", "serial"), ("cpu/threads", "threads (thread_pool)"),
                        ("cpu/processes", "processes (process_pool)"), ("cpu/std_async", "std::async"),
                        ("cpu/mpi", "MPI ranks (mpi_pool)")]:
        b = rows.get(name)
        if b is None:
            continue
        workers = 1 if name == "cpu/serial" else int(b.get("workers", min(4, cores)))
        if name == "cpu/std_async":
            workers = 4  # one thread per task
        speedup = base / ms(b)
        table.append((label, workers, ms(b), speedup, speedup / workers))
    return table


def sweeps(rows):
    """{(kind, impl): [(workers, items_per_second)]} from sweep/<kind>/<impl>/<w>."""
    out = {}
    for name, b in rows.items():
        m = re.fullmatch(r"sweep/(cpu|io)/(threads|processes)/(\d+)", name)
        if m:
            out.setdefault((m[1], m[2]), []).append((int(m[3]), b["items_per_second"]))
    for v in out.values():
        v.sort()
    return out


def print_report(machine, table, sweep, recommended):
    print()
    print(f"weft strategy comparison — {machine['cpu']}, {machine['cores_usable']} usable cores, "
          f"{machine['compiler']}")
    if table:
        print()
        print("CPU-bound job (4 tasks, each sum i*i for i < 10M)")
        print(f"  {'strategy':<26}{'workers':>8}{'time':>11}{'speedup':>9}{'efficiency':>12}")
        for label, workers, t, speedup, eff in table:
            print(f"  {label:<26}{workers:>8}{t:>9.1f}ms{speedup:>8.2f}x{eff:>11.0%}")
    for kind in ("cpu", "io"):
        lines = {impl: pts for (k, impl), pts in sweep.items() if k == kind}
        if not lines:
            continue
        base = min((pts[0][1] for pts in lines.values()), default=1.0)
        what = "CPU-bound (16 tasks)" if kind == "cpu" else "IO-bound (64 jobs blocking 1 ms)"
        print()
        print(f"{what}: speedup over one worker")
        for impl, pts in sorted(lines.items()):
            cells = "  ".join(f"{w}:{ips / base:.1f}x" for w, ips in pts)
            best_w, _ = max(pts, key=lambda p: p[1])
            print(f"  {impl:<10} {cells}   best at {best_w} workers")
        print(f"  recommended default_workers(workload::{kind}) = {recommended[kind]}")
    print(f"  (mixed workloads: default_workers(workload::mixed) = {recommended['mixed']})")


def draw_chart(sweep, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench/report.py: matplotlib not found (Debian: python3-matplotlib); no chart", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind, title in zip(axes, ("cpu", "io"), ("CPU-bound", "IO-bound (1 ms waits)")):
        lines = {impl: pts for (k, impl), pts in sweep.items() if k == kind}
        base = min((pts[0][1] for pts in lines.values()), default=1.0)
        for impl, pts in sorted(lines.items()):
            ax.plot([w for w, _ in pts], [ips / base for _, ips in pts], marker="o", label=impl)
        ax.set_title(title)
        ax.set_xlabel("workers")
        ax.set_ylabel("speedup over one worker")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="svg")
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out_dir")
    ap.add_argument("--compiler", default="unknown")
    args = ap.parse_args()
    with open(args.raw) as f:
        raw = json.load(f)
    rows = rows_by_name(raw)
    cores = usable_cores()
    machine = {"host": socket.gethostname(), "cpu": cpu_model(), "cores_usable": cores,
               "compiler": args.compiler, "date": datetime.date.today().isoformat()}
    recommended = {"cpu": cores, "io": cores * 5, "mixed": cores * 2 + 1}
    table = strategy_table(rows, cores)
    sweep = sweeps(rows)
    print_report(machine, table, sweep, recommended)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"{machine['date']}-{machine['host']}")
    # Write to a temporary name and rename: an interrupted run never leaves
    # a half-written file that looks like a result.
    with open(stem + ".json.tmp", "w") as f:
        json.dump({"machine": machine, "recommended_workers": recommended, "benchmark": raw}, f, indent=1)
    os.replace(stem + ".json.tmp", stem + ".json")
    print(f"\nresults: {stem}.json")
    if sweep and draw_chart(sweep, stem + ".svg.tmp"):
        os.replace(stem + ".svg.tmp", stem + ".svg")
        print(f"chart:   {stem}.svg")


if __name__ == "__main__":
    main()
