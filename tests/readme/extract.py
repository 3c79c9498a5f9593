#!/usr/bin/env python3
"""Writes every complete C++ program in README.md to its own file.

    extract.py README.md OUTDIR

A block fenced with ```cpp is a complete program and must define main();
a block fenced with ```cpp fragment is an excerpt and is skipped. Each
program becomes OUTDIR/readme_<line>.cpp (<line>: where its fence opens),
so a compile error points back at the README. Files that did not change
are left alone, so re-running CMake rebuilds nothing.
"""
import pathlib
import re
import sys


def blocks(lines):
    """Yields (fence line number, info string, body) for each fenced block."""
    fence = None
    for number, line in enumerate(lines, start=1):
        if fence is None:
            if line.startswith("```"):
                fence, info, body = number, line[3:].strip(), []
        elif line.startswith("```"):
            yield fence, info, "".join(body)
            fence = None
        else:
            body.append(line)
    if fence is not None:
        sys.exit(f"README.md:{fence}: code fence never closed")


def main():
    readme, outdir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for fence, info, body in blocks(readme.read_text().splitlines(keepends=True)):
        if info.split()[:1] != ["cpp"] or "fragment" in info.split()[1:]:
            continue
        if not re.search(r"\bint main\s*\(", body):
            sys.exit(f"README.md:{fence}: a ```cpp block must be a complete program "
                     "(or be marked ```cpp fragment)")
        out = outdir / f"readme_{fence}.cpp"
        text = f"// Extracted from README.md line {fence}; do not edit.\n#line {fence + 1} \"README.md\"\n{body}"
        if not out.exists() or out.read_text() != text:
            out.write_text(text)
        wanted.add(out.name)
    for stale in outdir.glob("readme_*.cpp"):
        if stale.name not in wanted:
            stale.unlink()


if __name__ == "__main__":
    main()
