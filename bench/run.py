"""Runs the benchmarks in one go, prints the table and writes BENCHMARKS.md.

Cold start and package size run first, on a quiet machine; then one localaws subprocess serves the AWS figures
(calls, latency, sweep, memory), each of which starts from a reset emulator. A benchmark that fails becomes an
ERROR row; the others still report.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import audit, calls, coldstart, latency, memory, package, sweep
from bench.aws import LocalAWSProcess
from bench.report import ROOT, Section, failed, machine, render_markdown, render_terminal

OFFLINE: dict[str, Callable[[], Section]] = {"coldstart": coldstart.run, "package": package.run}
ONLINE: dict[str, Callable[[LocalAWSProcess], Section]] = {
    "calls": calls.run,
    "latency": latency.run,
    "sweep": sweep.run,
    "memory": memory.run,
    "audit": audit.run,
}


def _guarded(name: str, benchmark: Callable[[], Section]) -> Section:
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    try:
        section = benchmark()
    except Exception as error:  # noqa: BLE001 (one broken benchmark must not hide the others' figures)
        section = failed(name, error)
    section.seconds = time.perf_counter() - began
    for row in section.rows:
        print(f"[bench]   {row.figure}: {row.measured} ({row.ratio}, {row.verdict})", file=sys.stderr, flush=True)
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="xray-guard benchmarks")
    parser.add_argument("--out", type=Path, help="report to write (default BENCHMARKS.md; none with --only)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join([*OFFLINE, *ONLINE])}")
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name}
    unknown = only - {*OFFLINE, *ONLINE}
    if unknown:
        parser.error(f"unknown benchmarks: {sorted(unknown)}")

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    sections = [_guarded(name, fn) for name, fn in OFFLINE.items() if not only or name in only]
    online = {name: fn for name, fn in ONLINE.items() if not only or name in only}
    if online:
        with LocalAWSProcess() as aws:
            sections += [_guarded(name, functools.partial(fn, aws)) for name, fn in online.items()]
    wall = time.perf_counter() - started

    print(render_terminal(sections, wall))
    out = args.out or (None if only else ROOT / "BENCHMARKS.md")
    if out is not None:
        info = machine()
        info["load"] = f"{load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after it"
        out.write_text(render_markdown(sections, info, wall))
        print(f"wrote {out}")
    # A target not met is a finding, reported in the table; only a benchmark that could not run fails the command.
    return 1 if any(s.error for s in sections) else 0
