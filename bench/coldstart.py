"""Cold start: `import app`, and first-handler-ready (`import app` + `chalicelib.runtime.build(env, home)`), against
a bare `import boto3` (the floor of any Python Lambda that calls AWS).

Each sample is a fresh `python -c` process that times the import with `time.perf_counter()` itself (interpreter
start-up, common to all, is left out). The variants are interleaved, in rotating order, after one discarded
warm-up run each (so every variant finds its .pyc files written); the median of the rounds is reported. One
`python -X importtime` run of first-handler-ready then shows where the import time goes, by top-level package.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter

from bench.aws import CENTRAL, ROOT, guard_env, offline_env
from bench.report import Row, Section, ms, times

ROUNDS = 15
TARGET = 1.3
PEER = "bare import boto3"
READY = "first handler ready"
BODIES = {
    PEER: "import boto3",
    "import app": "import app",
    READY: f"import app\nfrom chalicelib.runtime import build\nbuild({guard_env()!r}, {CENTRAL!r})",
}


def _child_code(body: str) -> str:
    return f"import time\n_start = time.perf_counter()\n{body}\nprint(time.perf_counter() - _start)\n"


def _env() -> dict[str, str]:
    # build() makes a boto3.Session but no AWS call; keep it off this machine's AWS config all the same.
    return {"PATH": "/usr/bin:/bin", **offline_env()}


def sample(body: str) -> float:
    """Seconds one fresh process spends on `body`, as it measures them itself."""
    done = subprocess.run(
        [sys.executable, "-c", _child_code(body)], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def import_time_by_package(body: str, top: int = 8) -> list[tuple[str, float]]:
    """Self import time (seconds) summed per top-level package, largest first, from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", body],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    per_package: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        per_package[parts[2].strip().split(".")[0]] += int(parts[0])  # microseconds
    return [(name, micros / 1e6) for name, micros in per_package.most_common(top)]


def run() -> Section:
    started = time.perf_counter()
    names = list(BODIES)
    for name in names:
        sample(BODIES[name])  # warm-up: writes .pyc files, fills the page cache
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(ROUNDS):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            samples[name].append(sample(BODIES[name]))
    median = {name: statistics.median(values) for name, values in samples.items()}
    peer = median[PEER]

    section = Section(
        "Cold start",
        f"{ROUNDS} fresh `python -c` processes per variant, interleaved in rotating order after one warm-up each; "
        "each child times its own import with `time.perf_counter()`; median reported. `first handler ready` = "
        "`import app` + `chalicelib.runtime.build(env, home_account)` with a valid env mapping (no AWS call). "
        "Here the .pyc files are cached (the warm-up writes them). On Lambda /var/task is read-only: a module "
        "without a usable .pyc in the zip is compiled from source at every cold start; not measured here.",
    )
    for name in names[1:]:
        ratio = median[name] / peer
        section.rows.append(
            Row(
                f"cold start: {name}",
                ms(median[name]),
                f"{PEER}: {ms(peer)}",
                times(ratio),
                f"≤ {TARGET}×",
                ratio <= TARGET,
            )
        )
    spread = ", ".join(f"{n}: {ms(min(v))}–{ms(max(v))}" for n, v in samples.items())
    section.details.append(f"Range of the {ROUNDS} samples: {spread}.")
    breakdown = ", ".join(f"{pkg} {ms(sec)}" for pkg, sec in import_time_by_package(BODIES[READY]))
    section.details.append(f"Self import time by package (`-X importtime`, one run of {READY}): {breakdown}.")
    section.seconds = time.perf_counter() - started
    return section
