"""Lambda package size: the deployment.zip that `make package` builds, zipped and unzipped.

Runs the Makefile's own `chalice package ...` line (read from `make -n package`, so it follows the Makefile) with
its project and output directories swapped for temporary ones: a copy of what chalice packages (app.py,
requirements.txt, .chalice/, chalicelib/) without bytecode, as the recipe copies them to build/src. So it measures
what `make package` ships, as the code is now, and never races another `make package` over build/. The zip's own
size is the target's figure; the sum of the members' uncompressed sizes (zipfile), the largest top-level entries
and any bytecode in the zip are context.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

from bench.aws import ROOT
from bench.report import Row, Section

TARGET_BYTES = 3_000_000  # 3 MB (decimal: the stricter reading)


def makefile_command() -> tuple[dict[str, str], list[str]]:
    """The `chalice package` command of the Makefile's package recipe, as make would run it: the variables the
    line sets for it (`NAME=value` before the command), and the command."""
    dry = subprocess.run(["make", "-n", "package"], cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(line for line in dry.stdout.splitlines() if re.search(r"/chalice --project-dir \S+ package ", line))
    words = shlex.split(line)
    assignments = list(itertools.takewhile(lambda word: re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word), words))
    return dict(word.split("=", 1) for word in assignments), words[len(assignments) :]


# What `chalice package` reads from the project directory (the recipe copies the same to build/src).
PACKAGED = ("app.py", "requirements.txt", ".chalice", "chalicelib")


def source_copy(dest: Path) -> Path:
    """The packaged parts of the checkout copied to `dest`, without bytecode (as the recipe leaves chalicelib)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments")
    dest.mkdir(parents=True)
    for name in PACKAGED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
    return dest


def build_zip(out_dir: Path) -> tuple[Path, str]:
    """Package the app as `make package` does, into `out_dir`; returns the zip and the command that made it."""
    project = source_copy(out_dir / "project")
    variables, command = makefile_command()
    tool, *options = command[:-1]  # the last argument is the output directory
    at = options.index("--project-dir") + 1
    args = [str(ROOT / tool), *options[:at], str(project), *options[at + 1 :], str(out_dir / "package")]
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), **variables}
    done = subprocess.run(args, cwd=project, env=env, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"chalice package failed: {done.stderr.strip().splitlines()[-1:]}")
    shown = [f"{name}={value}" for name, value in variables.items()]
    shown_command = [*shown, tool, *options[:at], "SRC", *options[at + 1 :], "DIR"]
    shown_command = [word.removeprefix(f"{ROOT}/") for word in shown_command]  # this checkout's paths, relative
    return out_dir / "package" / "deployment.zip", shlex.join(shown_command)


def run() -> Section:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xray-guard-bench-") as tmp:
        path, command = build_zip(Path(tmp))
        zipped = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        unzipped = sum(m.file_size for m in members)
        by_top: Counter[str] = Counter()
        for m in members:
            by_top[m.filename.split("/")[0]] += m.file_size
        compiled = Counter(m.filename.rsplit("/", 1)[0] for m in members if m.filename.endswith(".pyc"))

    section = Section(
        "Lambda package size",
        f"`{command}` (the Makefile's package recipe, from `make -n package`) with DIR a temporary directory and SRC a "
        f"copy of {', '.join(PACKAGED)} without __pycache__ (as the recipe copies them to build/src). "
        "Size of deployment.zip on disk; uncompressed = sum of `ZipInfo.file_size`. Target 3 MB read as "
        "3,000,000 bytes.",
    )
    section.rows.append(
        Row(
            "Lambda deployment.zip",
            f"{zipped / 1e6:.2f} MB zip ({unzipped / 1e6:.2f} MB unzipped, {len(members)} files)",
            "3 MB",
            f"{zipped / TARGET_BYTES:.2f}× of the limit",
            "zip ≤ 3 MB",
            zipped <= TARGET_BYTES,
        )
    )
    largest = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in by_top.most_common(5))
    bytecode = ", ".join(f"{folder}/ {count}" for folder, count in compiled.items()) or "none"
    section.details.append(f"Largest top-level entries (uncompressed): {largest}. `.pyc` files in the zip: {bytecode}.")
    section.seconds = time.perf_counter() - started
    return section
