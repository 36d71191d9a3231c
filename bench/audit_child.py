"""Child program of the audit figures: one `xray-guard audit` in this fresh process, then its time and peak RSS.

`python -m bench.audit_child OUT ARG...` runs `chalicelib.cli.main([ARG...])` with this process's environment (the
AWS and XRAY_GUARD_* variables, as an operator's shell has them), its standard output written to the file OUT, and
prints as its last stdout line `{"exit_code", "seconds", "cpu_seconds", "gc_seconds", "gc_collections",
"peak_rss_mib"}`: the audit's own wall and CPU time (interpreter start-up and imports left out), the CPU time of
the cyclic garbage collector within it, and this process's peak RSS (VmHWM, see `bench.invoke`).
Imports nothing of the benchmarks but that helper, nor the emulator, so the figures are the audit's alone.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import time
from pathlib import Path

from bench.invoke import peak_rss_mib
from chalicelib import cli


class GcClock:
    """CPU time spent in Python's cyclic garbage collector (gc.callbacks), and the number of collections."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections += 1


def main(argv: list[str]) -> int:
    out, args = Path(argv[0]), argv[1:]
    collector = GcClock()
    gc.callbacks.append(collector)
    began, cpu = time.perf_counter(), time.process_time()
    with out.open("w") as stream, contextlib.redirect_stdout(stream):
        code = cli.main(args)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
    figures = {
        "exit_code": code,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "gc_seconds": collector.seconds,
        "gc_collections": collector.collections,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
