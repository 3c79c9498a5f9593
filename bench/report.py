#!/usr/bin/env python3
"""Turns weft-bench's Google Benchmark JSON into the strategy comparison:
a table people read in five seconds (median and min-max spread over the
interleaved repetitions, a noise warning, a verdict: line), a result file
with machine facts, and an SVG chart (the strategy table as bars beside the
worker sweeps, with error bars and the ideal speedup).

    bench/report.py RAW.json OUT_DIR --compiler "GNU 12.2.0"
                    [--strategies STRATEGIES.json] [--readme README.md]

The strategy table and its verdict come from weft-bench's own mode
(STRATEGIES.json, written by `weft-bench --json`), which prints them through
weft::comparison (<weft/compare.hpp>): the verdict is decided in one place,
detail/strategy_verdict.hpp, and only repeated here. This script adds the
worker sweeps, the result file, the chart and (--readme) the README table.
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import statistics
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


def clean_name(b):
    # Drop Google Benchmark's suffixes: /min_time:0.200/repeats:5/real_time.
    return "/".join(part for part in b.get("run_name", b["name"]).split("/")
                    if part != "real_time" and not part.startswith(("min_time:", "repeats:")))


def ms(b):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


class Row:
    """One benchmark over its repetitions: times (ms) and throughputs."""

    def __init__(self, name):
        self.name, self.ms, self.ips, self.workers = name, [], [], None

    def add(self, b):
        self.ms.append(ms(b))
        self.ips.append(b.get("items_per_second", 0.0))
        if "workers" in b:
            self.workers = int(b["workers"])

    @property
    def items_per_second(self):
        return statistics.median(self.ips)

    @property
    def median(self):
        return statistics.median(self.ms)

    @property
    def min(self):
        return min(self.ms)

    @property
    def max(self):
        return max(self.ms)


def rows_by_name(raw):
    """{name: Row} from every repetition (run_type iteration). A benchmark
    reported only as aggregates (older files: ReportAggregatesOnly) gives
    one sample, its median."""
    out, medians = {}, {}
    for b in raw.get("benchmarks", []):
        if "error_occurred" in b:
            continue
        kind = b.get("run_type", "iteration")
        if kind == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[clean_name(b)] = b
            continue
        row = out.setdefault(clean_name(b), Row(clean_name(b)))
        row.add(b)
    for name, b in medians.items():
        if name not in out:
            out[name] = Row(name)
            out[name].add(b)
    return out


def strategy_table(strategies):
    """[{name, workers, median, min, max, speedup, efficiency, samples, reference}] (ms) from
    weft-bench --json."""
    if not strategies:
        return []
    table = []
    for r in strategies["rows"]:
        samples = [x * 1e3 for x in r["seconds"]]
        if not samples:
            continue
        table.append({"name": r["name"], "workers": r["workers"], "reference": r["reference"],
                      "median": statistics.median(samples), "min": min(samples), "max": max(samples),
                      "samples": samples})
    if not table or table[0]["name"] != "serial":
        return []
    for r in table:
        r["speedup"] = table[0]["median"] / r["median"]
        r["efficiency"] = r["speedup"] / r["workers"]
    return table


def mpi_line(rows, strategies):
    """cpu/mpi (Google Benchmark under mpiexec: one 10M pass per task, not interleaved with the
    table's rounds) scaled to the table's job; printed beside the table, not part of the verdict."""
    r = rows.get("cpu/mpi")
    if r is None or not strategies:
        return None
    serial = [x["seconds"] for x in strategies["rows"] if x["name"] == "serial"]
    if not serial:
        return None
    per_pass = statistics.median(serial[0]) * 1e3 / strategies["job"]["repeats_per_task"]
    return (f"  mpi (cpu/mpi under mpiexec, {r.workers or '?'} workers): {r.median:.1f} ms per 10M pass, "
            f"about {per_pass / r.median:.2f}x serial — not interleaved with the rounds above, so not in the verdict")


def sweeps(rows, serial_ms):
    """{(kind, impl): [(workers, median, lo, hi)]} speedups from sweep/<kind>/<impl>/<w>.
    CPU sweeps do the table's total work (16 x 2.5M = 4 x 10M), so their
    speedup is over the serial median, as in the table; IO sweeps are over
    the fastest one-worker median."""
    found = {}
    for name, r in rows.items():
        m = re.fullmatch(r"sweep/(cpu|io)/(threads|processes)/(\d+)", name)
        if m:
            found.setdefault((m[1], m[2]), []).append((int(m[3]), r))
    out = {}
    for (kind, impl), pts in found.items():
        pts.sort(key=lambda p: p[0])
        if kind == "cpu" and serial_ms:
            base = serial_ms
        else:  # also cpu without a serial/cpu row of the same job: the fastest one-worker median
            ones = [r.median for (k, _), ps in found.items() if k == kind for w, r in ps if w == 1]
            base = min(ones) if ones else pts[0][1].median
        out[(kind, impl)] = [(w, base / r.median, base / r.max, base / r.min) for w, r in pts]
    return out


def best_workers(pts):
    """The fewest workers whose speedup range reaches the top median: more
    workers than that is within the noise."""
    top = max(pts, key=lambda p: p[1])
    for w, med, lo, hi in pts:
        if hi >= top[1]:
            return w, top[0]
    return top[0], top[0]


def print_sweeps(sweep, table, recommended):
    by_name = {r["name"]: r for r in table if not r.get("reference")}
    for kind in ("cpu", "io"):
        lines = {impl: pts for (k, impl), pts in sweep.items() if k == kind}
        if not lines:
            continue
        print()
        if kind == "cpu":
            print("CPU-bound sweep (16 tasks of 2.5M, the table's total work): speedup over serial, median [min-max]")
        else:
            print("IO-bound sweep (64 jobs blocking 1 ms): speedup over one worker, median [min-max]")
        for impl, pts in sorted(lines.items()):
            cells = "  ".join(f"{w}:{med:.1f}x[{lo:.1f}-{hi:.1f}]" for w, med, lo, hi in pts)
            w, top = best_workers(pts)
            note = f"best at {w} workers" + (f" ({top} within noise)" if top != w else "")
            print(f"  {impl:<10} {cells}   {note}")
            row = by_name.get(impl)
            if kind == "cpu" and row:
                at = [p for p in pts if p[0] == row["workers"]]
                if at:
                    _, med, lo, hi = at[0]
                    t_lo, t_hi = table[0]["median"] / row["max"], table[0]["median"] / row["min"]
                    if hi < t_lo or lo > t_hi:
                        print(f"  note: the table says {impl} {row['speedup']:.2f}x at {row['workers']} workers, the "
                              f"sweep {med:.2f}x: beyond both spreads. The table runs 4 long tasks (one per worker "
                              "slot), the sweep 16 of 2.5M (finer tasks balance better but cost 4x the messages).")
                    else:
                        print(f"  table and sweep agree for {impl} at {row['workers']} workers "
                              f"({row['speedup']:.2f}x vs {med:.2f}x, within the spreads)")
        print(f"  recommended default_workers(workload::{kind}) = {recommended[kind]}")
        if kind == "cpu":
            cores = recommended["cpu"]
            beyond = [impl for impl, pts in sorted(lines.items()) if best_workers(pts)[0] > cores]
            if beyond:
                print(f"  note: {', '.join(beyond)} best above {cores} workers: more CPU-bound workers than usable"
                      " cores add no CPU, so that lead is noise (or a core another program freed); keep the"
                      " recommendation")
    if sweep:
        print(f"  (mixed workloads: default_workers(workload::mixed) = {recommended['mixed']})")


def draw_chart(table, sweep, machine, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench/report.py: matplotlib not found (Debian: python3-matplotlib); no chart", file=sys.stderr)
        return False
    panels = (["table"] if table else []) + [k for k in ("cpu", "io") if any(kk == k for kk, _ in sweep)]
    if not panels:
        return False
    load = (machine.get("load_avg") or [None])[0]
    load_note = f", load average {load:.1f} at start" if load is not None else ""
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5 * len(panels), 8), 4.8), squeeze=False)
    fig.suptitle(f"weft strategy comparison — {machine['host']}, {machine['cpu']}, {machine['cores_usable']} usable "
                 f"cores\n{machine['compiler']}, {machine['date']}{load_note}\nbars/points: median, error bars: min-max",
                 fontsize=9)
    for ax, panel in zip(axes[0], panels):
        if panel == "table":
            names = [r["name"] + ("*" if r.get("reference") else "") for r in table]
            med = [r["speedup"] for r in table]
            base = table[0]["median"]
            lo = [m - base / r["max"] for m, r in zip(med, table)]
            hi = [base / r["min"] - m for m, r in zip(med, table)]
            xs = range(len(names))
            ax.bar(xs, med, yerr=[lo, hi], capsize=4, color="#4c72b0")
            ideal = [min(r["workers"], machine["cores_usable"]) for r in table]
            ax.scatter(xs, ideal, marker="_", s=600, color="black", label="ideal (workers, at most cores)", zorder=3)
            ax.set_xticks(list(xs))
            ax.set_xticklabels(names)
            ax.set_title("CPU-bound job: strategies (4 tasks; * = reference)")
            ax.set_ylabel("speedup over serial")
            ax.set_ylim(0, max(max(ideal), max(m + h for m, h in zip(med, hi))) * 1.1)
            ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        else:
            lines = {impl: pts for (k, impl), pts in sweep.items() if k == panel}
            top_w = 1
            for impl, pts in sorted(lines.items()):
                ws = [p[0] for p in pts]
                med = [p[1] for p in pts]
                ax.errorbar(ws, med, yerr=[[m - p[2] for m, p in zip(med, pts)], [p[3] - m for m, p in zip(med, pts)]],
                            marker="o", capsize=3, label=impl)
                top_w = max(top_w, max(ws))
            cores = machine["cores_usable"]
            ideal_w = list(range(1, top_w + 1))
            ideal = [min(w, cores) for w in ideal_w] if panel == "cpu" else ideal_w
            ax.plot(ideal_w, ideal, color="black", linestyle="--", linewidth=1, label="ideal")
            ax.set_title("CPU-bound sweep (16 tasks of 2.5M)" if panel == "cpu" else "IO-bound sweep (64 x 1 ms waits)")
            ax.set_xlabel("workers")
            ax.set_ylabel("speedup over serial" if panel == "cpu" else "speedup over one worker")
            ax.set_xlim(0, top_w + 1)
            ax.set_ylim(0, None)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    return True


def unique_stem(out_dir, date, host):
    """OUT_DIR/<date>-<host>, or -2, -3, ... when a run of that day and host is there: never overwrite."""
    stem = os.path.join(out_dir, f"{date}-{host}")
    n = 1
    while os.path.exists(stem + ".json"):
        n += 1
        stem = os.path.join(out_dir, f"{date}-{host}-{n}")
    return stem


README_BEGIN = "<!-- weft-bench:begin (generated by scripts/bench --readme; do not edit) -->"
README_END = "<!-- weft-bench:end -->"

# README rows: (label, weft benchmark, baseline benchmark, what the baseline is)
README_PAIRS = [
    ("queue 1 producer, 1 consumer", "queue/weft/1p1c", "queue/mutex_condvar/1p1c", "mutex + condvar"),
    ("queue 1p1c vs oneTBB", "queue/weft/1p1c", "queue/tbb/1p1c", "tbb::concurrent_bounded_queue"),
    ("queue 1p1c vs moodycamel", "queue/weft/1p1c", "queue/moodycamel/1p1c", "moodycamel (unbounded)"),
    ("queue 1p1c vs atomic_queue", "queue/weft/1p1c", "queue/atomic_queue/1p1c", "atomic_queue (spins, never sleeps)"),
    ("queue 2p2c vs atomic_queue", "queue/weft/2p2c", "queue/atomic_queue/2p2c", "atomic_queue (spins, never sleeps)"),
    ("queue 4p4c (8 threads)", "queue/weft/4p4c", "queue/mutex_condvar/4p4c", "mutex + condvar"),
    ("queue 4p4c vs atomic_queue", "queue/weft/4p4c", "queue/atomic_queue/4p4c", "atomic_queue (spins, never sleeps)"),
    ("rwlock 99% reads", "rwlock/weft/99", "rwlock/std_shared_mutex/99", "std::shared_mutex"),
    ("rwlock 50% reads", "rwlock/weft/50", "rwlock/std_shared_mutex/50", "std::shared_mutex"),
    ("counter, 2 threads", "counter/weft_sharded/2", "counter/mutex/2", "mutex"),
    ("rwlock 90% reads vs oneTBB", "rwlock/weft/90", "rwlock/tbb_spin_rw/90", "tbb::spin_rw_mutex"),
    ("rwlock 50% reads vs oneTBB", "rwlock/weft/50", "rwlock/tbb_spin_rw/50", "tbb::spin_rw_mutex"),
    ("pool post_wait vs oneTBB", "pool/weft/post_wait", "pool/tbb_task_group/post_wait", "tbb::task_group"),
    ("pool submit_get vs oneTBB", "pool/weft/submit_get", "pool/tbb_task_group/submit_get", "tbb::task_group"),
    ("parallel_for vs oneTBB", "pool/weft/parallel_for", "pool/tbb/parallel_for", "tbb::parallel_for"),
    ("fork-join fib vs oneTBB", "forkjoin/weft/fib", "forkjoin/tbb_task_group/fib", "tbb::task_group"),
    ("fork-join skynet vs oneTBB", "forkjoin/weft/skynet", "forkjoin/tbb_task_group/skynet", "tbb::task_group"),
    ("fork-join nqueens vs oneTBB", "forkjoin/weft/nqueens", "forkjoin/tbb_task_group/nqueens", "tbb::task_group"),
    ("shared_queue 1p1c (processes)", "shm/queue/1p1c", "shm/pipe/1p1c", "a pipe"),
    ("process shared_array vs by value", "process/weft/shared_array", "process/weft/by_value", "8 MB by value"),
    ("process imap_unordered vs map", "process/weft/imap_unordered", "process/weft/map_chunked", "map, chunks of 256"),
]


def paired_ratios(rows, a, b):
    """Per-round items/s ratios a/b (round i of each, both from interleaved repetitions)."""
    ra, rb = rows.get(a), rows.get(b)
    if ra is None or rb is None:
        return []
    return [x / y for x, y in zip(ra.ips, rb.ips) if y > 0]


def readme_table(table, verdict, rows, machine, stem):
    result = os.path.relpath(stem, os.path.dirname(os.path.abspath(machine["readme"])))  # as README links it
    lines = [README_BEGIN, "",
             f"Run {machine['date']} on `{machine['host']}` ({machine['cpu']}, {machine['cores_usable']} usable cores, "
             f"{machine['compiler']}; load average {machine['strategy_load']} at start) by `scripts/bench --readme`. "
             "Each figure is the median of interleaved rounds, with the lowest and highest round in brackets; "
             f"raw data: [`{result}.json`]({result}.json).", ""]
    if os.path.exists(stem + ".svg"):  # the chart of this run (no matplotlib: no chart)
        lines += [f"![The strategy comparison of this run: speedup over serial, median with min-max bars]({result}.svg)", ""]
    lines += ["| strategy (CPU-bound job) | workers | median | rounds | speedup |", "|---|---:|---:|---:|---:|"]
    for r in table:
        name = r["name"] + (" (reference)" if r.get("reference") else "")
        base = table[0]["median"]
        lines.append(f"| {name} | {r['workers']} | {r['median']:.0f} ms | {r['min']:.0f}-{r['max']:.0f} ms | "
                     f"{r['speedup']:.2f}x [{base / r['max']:.2f}-{base / r['min']:.2f}] |")
    lines += ["", f"`{verdict}`", "", "| weft vs | baseline | weft ÷ baseline (items/s) |", "|---|---|---:|"]
    for label, a, b, what in README_PAIRS:
        ratios = paired_ratios(rows, a, b)
        if ratios:
            lines.append(f"| {label} | {what} | {statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] |")
    lines += ["", README_END]
    return "\n".join(lines)


def write_readme(path, text):
    with open(path) as f:
        old = f.read()
    if README_BEGIN not in old or README_END not in old:
        print(f"bench/report.py: {path} has no weft-bench markers; README not changed", file=sys.stderr)
        return False
    head, rest = old.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with open(path + ".tmp", "w") as f:
        f.write(head + text + tail)
    os.replace(path + ".tmp", path)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out_dir")
    ap.add_argument("--compiler", default="unknown")
    ap.add_argument("--strategies", help="weft-bench --json output: the strategy table and its verdict")
    ap.add_argument("--readme", help="README.md whose generated benchmark table to replace")
    args = ap.parse_args()
    with open(args.raw) as f:
        raw = json.load(f)
    strategies = None
    if args.strategies:
        with open(args.strategies) as f:
            strategies = json.load(f)
    rows = rows_by_name(raw)
    cores = usable_cores()
    machine = {"host": socket.gethostname(), "cpu": cpu_model(), "cores_usable": cores,
               "compiler": args.compiler, "date": datetime.date.today().isoformat(),
               "time": datetime.datetime.now().strftime("%H:%M:%S"),
               "load_avg": raw.get("context", {}).get("load_avg"),
               "strategy_load": strategies.get("load_average") if strategies else None}
    recommended = {"cpu": cores, "io": cores * 5, "mixed": cores * 2 + 1}
    table = strategy_table(strategies)
    verdict = strategies["verdict"] if strategies else None
    serial_pass = None
    if table and strategies:  # the sweeps' total work is one 10M pass per task
        serial_pass = table[0]["median"] / strategies["job"]["repeats_per_task"]
    sweep = sweeps(rows, serial_pass)
    line = mpi_line(rows, strategies)
    if line:
        print()
        print(line)
    print_sweeps(sweep, table, recommended)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = unique_stem(args.out_dir, machine["date"], machine["host"])
    summary = {"strategies": table, "verdict": verdict, "strategy_run": strategies,
               "sweeps": {f"{k}/{impl}": pts for (k, impl), pts in sweep.items()}}
    # Write to a temporary name and rename: an interrupted run never leaves
    # a half-written file that looks like a result.
    with open(stem + ".json.tmp", "w") as f:
        json.dump({"machine": machine, "recommended_workers": recommended, "summary": summary, "benchmark": raw},
                  f, indent=1)
    os.replace(stem + ".json.tmp", stem + ".json")
    print(f"\nresults: {stem}.json")
    if (table or sweep) and draw_chart(table, sweep, machine, stem + ".svg.tmp"):
        os.replace(stem + ".svg.tmp", stem + ".svg")
        print(f"chart:   {stem}.svg")
    if args.readme and table:
        machine["readme"] = args.readme
        if write_readme(args.readme, readme_table(table, verdict, rows, machine, stem)):
            print(f"readme:  the table between the weft-bench markers in {args.readme}")
    if verdict:
        print(verdict)  # the strategy table's verdict (weft-bench), last


if __name__ == "__main__":
    main()
