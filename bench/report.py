#!/usr/bin/env python3
"""Turns weft-bench's Google Benchmark JSON into the strategy comparison:
a table people read in five seconds (median and min-max spread over the
interleaved repetitions, a noise warning, a verdict: line), a result file
with machine facts, and an SVG chart (the strategy table as bars beside the
worker sweeps, with error bars and the ideal speedup).

    bench/report.py RAW.json OUT_DIR --compiler "GNU 12.2.0"

The table has the layout of weft::comparison::print() (<weft/compare.hpp>);
best() and the noise rule are the same: a parallel strategy wins only when
its lead over serial is larger than the spread (max - min) of both rows.
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


STRATEGIES = [("cpu/serial", "serial"), ("cpu/threads", "threads"), ("cpu/processes", "processes"),
              ("cpu/std_async", "std_async"), ("cpu/mpi", "mpi")]


def strategy_table(rows, cores):
    """[{name, workers, median, min, max, speedup, efficiency, samples}] for the cpu/ rows."""
    serial = rows.get("cpu/serial")
    if serial is None:
        return []
    table = []
    for key, label in STRATEGIES:
        r = rows.get(key)
        if r is None:
            continue
        workers = 1 if key == "cpu/serial" else (r.workers or min(4, cores))
        if key == "cpu/std_async":
            workers = 4  # one thread per task
        speedup = serial.median / r.median
        table.append({"name": label, "workers": workers, "median": r.median, "min": r.min, "max": r.max,
                      "speedup": speedup, "efficiency": speedup / workers, "samples": r.ms})
    return table


def overlap(a, b):
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def best(table):
    """As weft::comparison::best(): the fastest by median if its lead over
    serial beats the spread of both rows, else serial."""
    serial = table[0]
    fastest = min(table, key=lambda r: r["median"])
    if fastest is serial:
        return fastest
    lead = serial["median"] - fastest["median"]
    spread = max(fastest["max"] - fastest["min"], serial["max"] - serial["min"])
    return fastest if lead > spread else serial


def print_table(table):
    """The same lines as weft::comparison::print()."""
    print(f"  {'strategy':<12}{'workers':>8}{'median':>11}{'min-max':>19}{'speedup':>9}{'efficiency':>12}")
    over_ideal = False
    for r in table:
        flag = r["efficiency"] > 1.0
        over_ideal |= flag
        rng = f"{r['min']:.1f}-{r['max']:.1f} ms"
        print(f"  {r['name']:<12}{r['workers']:>8}{r['median']:>8.1f} ms{rng:>19}{r['speedup']:>8.2f}x"
              f"{r['efficiency'] * 100:>11.0f}%{' (noise)' if flag else ''}")
    print(f"  ({len(table[0]['samples'])} interleaved rounds; speedup = serial median / row median)")
    if over_ideal:
        print("  note: efficiency above 100% is noise (a slow serial round, or a core another program freed), not real")
    pairs = [f"{a['name']}/{b['name']}" for i, a in enumerate(table) for b in table[i + 1:] if overlap(a, b)]
    if pairs:
        print(f"  warning: min-max ranges overlap ({', '.join(pairs)}): too noisy to separate those;"
              " close other programs, or use more repeats")
    winner, fastest = best(table), min(table, key=lambda r: r["median"])
    if winner is not table[0]:
        tied = [r["name"] for r in table[1:] if r is not winner and overlap(r, winner)]
        print(f"verdict: {winner['name']} — {winner['speedup']:.2f}x serial with {winner['workers']} workers,"
              " a lead larger than the spread" + (f"; {', '.join(tied)} within the noise of it" if tied else ""))
    elif fastest is table[0]:
        print("verdict: serial — no parallel strategy was faster")
    else:
        print(f"verdict: serial — {fastest['name']} looked {fastest['speedup']:.2f}x faster,"
              " but its lead is within the noise")


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
        else:
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
    by_name = {r["name"]: r for r in table}
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
                              f"sweep {med:.2f}x: beyond both spreads. The table runs 4 tasks of 10M (one per worker "
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
            names = [r["name"] for r in table]
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
            ax.set_title("CPU-bound job: strategies (4 tasks of 10M)")
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
               "compiler": args.compiler, "date": datetime.date.today().isoformat(),
               "load_avg": raw.get("context", {}).get("load_avg")}
    recommended = {"cpu": cores, "io": cores * 5, "mixed": cores * 2 + 1}
    table = strategy_table(rows, cores)
    sweep = sweeps(rows, table[0]["median"] if table else None)
    print()
    print(f"weft strategy comparison — {machine['cpu']}, {cores} usable cores, {machine['compiler']}")
    load = (machine["load_avg"] or [None])[0]
    if load is not None and load > 0.5 * cores:
        print(f"note: load average {load:.1f} on {cores} cores when the run started: other programs were busy,"
              " so expect noise and speedups below what this machine can do idle")
    if table:
        print()
        print("CPU-bound job (4 tasks, each sum i*i for i < 10M)")
        print_table(table)
    print_sweeps(sweep, table, recommended)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"{machine['date']}-{machine['host']}")
    summary = {"strategies": [{k: v for k, v in r.items()} for r in table],
               "verdict": best(table)["name"] if table else None,
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


if __name__ == "__main__":
    main()
