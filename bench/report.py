"""Results as table rows, the machine they were measured on, and their rendering (terminal and BENCHMARKS.md)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One figure: what was measured, against which peer or ideal, and whether it meets its target.

    `met` is None for context rows, which have no target of their own.
    """

    figure: str
    measured: str
    reference: str
    ratio: str
    target: str = "—"
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "—"}[self.met]


@dataclass
class Section:
    """The rows of one benchmark module, how they were measured, and details (markdown lines)."""

    title: str
    how: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def failed(title: str, error: BaseException) -> Section:
    """A benchmark that raised: one row saying so, so that the others still report."""
    message = f"{type(error).__name__}: {error}".replace("\n", " ")[:300]
    return Section(title, "did not complete", [Row(title, "ERROR", message, "—", "—", False)], error=message)


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem_kb = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "")
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "nproc": nproc or str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb else "?",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


HEADER = ("#", "figure", "measured", "peer / ideal", "ratio", "target", "verdict")


def _table_rows(sections: list[Section]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for number, section in enumerate(sections, 1):
        for index, row in enumerate(section.rows):
            label = f"{number}{chr(ord('a') + index)}" if len(section.rows) > 1 else str(number)
            rows.append((label, row.figure, row.measured, row.reference, row.ratio, row.target, row.verdict))
    return rows


def _cut(cell: str, width: int = 64) -> str:
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def render_terminal(sections: list[Section], wall_seconds: float) -> str:
    """The table for a terminal (long cells cut; BENCHMARKS.md has them whole)."""
    rows = [tuple(_cut(cell) for cell in r) for r in [HEADER, *_table_rows(sections)]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\nwall time of the whole run: {wall_seconds:.0f} s")
    return "\n".join(lines)


def render_markdown(sections: list[Section], info: dict[str, str], wall_seconds: float) -> str:
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`); do not edit by hand. Every figure below comes from",
        "one run, measured side by side with its peer or ideal.",
        "",
        f"- command: `make bench` · date: {info['date']} · whole run: {wall_seconds:.0f} s",
        f"- machine: `nproc` = {info['nproc']} · {info['cpu']} · {info['memory']} · {info['platform']}",
        f"- python {info['python']} · 1-minute load average: {info.get('load', '?')} (anything else running on "
        "this machine competes with the benchmarks)",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in _table_rows(sections)]
    out += ["", "## How each figure was measured", ""]
    for number, section in enumerate(sections, 1):
        out += [f"### {number}. {section.title} ({section.seconds:.0f} s)", "", section.how, ""]
        if section.details:
            out += [*section.details, ""]
    return "\n".join(out).rstrip() + "\n"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def times(ratio: float) -> str:
    return f"{ratio:.2f}×"
