#!/usr/bin/env python3
"""Tests for bench/report.py's bookkeeping (the verdict itself is C++:
tests/strategy_verdict_test.cpp): result files never overwrite each other,
and --readme rewrites only the block between the weft-bench markers, linking
the run's result file and (when one was drawn) its chart.

    bench_report_test.py <weft source dir>
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(sys.argv[1], "bench"))
import report  # noqa: E402


def test_result_files_never_overwrite():
    with tempfile.TemporaryDirectory() as d:
        first = report.unique_stem(d, "2026-12-07", "vm")
        open(first + ".json", "w").close()
        second = report.unique_stem(d, "2026-12-07", "vm")
        open(second + ".json", "w").close()
        third = report.unique_stem(d, "2026-12-07", "vm")
        assert len({first, second, third}) == 3, (first, second, third)
        assert first.endswith("2026-12-07-vm") and second.endswith("2026-12-07-vm-2"), (first, second)


def test_readme_block_is_replaced_between_the_markers():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "README.md")
        with open(path, "w") as f:
            f.write(f"intro\n{report.README_BEGIN}\nold table\n{report.README_END}\noutro\n")
        assert report.write_readme(path, f"{report.README_BEGIN}\nnew table\n{report.README_END}")
        text = open(path).read()
        assert "old table" not in text and "new table" in text, text
        assert text.startswith("intro\n") and text.endswith("\noutro\n"), text
        with open(path, "w") as f:
            f.write("no markers\n")
        assert not report.write_readme(path, "x")
        assert open(path).read() == "no markers\n"


def test_readme_block_links_the_result_and_its_chart():
    table = [{"name": "serial", "workers": 1, "median": 400.0, "min": 390.0, "max": 410.0, "speedup": 1.0},
             {"name": "threads", "workers": 2, "median": 200.0, "min": 195.0, "max": 205.0, "speedup": 2.0}]
    machine = {"date": "2026-12-07", "host": "vm", "cpu": "cpu", "cores_usable": 2, "compiler": "g++",
               "strategy_load": 0.1}
    with tempfile.TemporaryDirectory() as d:
        machine["readme"] = os.path.join(d, "README.md")
        stem = os.path.join(d, "bench", "results", "2026-12-07-vm")
        os.makedirs(os.path.dirname(stem))
        text = report.readme_table(table, "verdict: threads", {}, machine, stem)
        assert "(bench/results/2026-12-07-vm.json)" in text and ".svg" not in text, text
        open(stem + ".svg", "w").close()
        text = report.readme_table(table, "verdict: threads", {}, machine, stem)
        assert "](bench/results/2026-12-07-vm.svg)" in text, text
        assert text.startswith(report.README_BEGIN) and text.endswith(report.README_END), text


if __name__ == "__main__":
    test_result_files_never_overwrite()
    test_readme_block_is_replaced_between_the_markers()
    test_readme_block_links_the_result_and_its_chart()
    print("bench_report_test: ok")
