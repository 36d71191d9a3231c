"""`pip install .` gives the `xray-guard` command: the wheel is built offline and installed into a fresh venv that
sees, from this environment, only what the wheel declares it needs (its Requires-Dist and theirs, linked into one
directory named by a .pth file), so the test needs no package index and fails on an undeclared import."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]


def test_the_wheel_installs_the_xray_guard_command(tmp_path: Path) -> None:
    # Built from a copy of what the package is made of: setuptools leaves build/ and *.egg-info behind where it
    # builds, and a stale build/lib in the checkout could hide a module that no longer exists.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "chalicelib", source / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source / "pyproject.toml")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(wheels),
         str(source)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    [wheel] = wheels.glob("xray_guard-*.whl")
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    declared = _declared_closure(wheel)
    assert {"botocore", "pydantic"} <= declared  # what pyproject.toml names, and what they need in turn
    (site / "deps.pth").write_text(str(_linked(declared, tmp_path / "deps")) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip

    result = subprocess.run(
        [str(target / "bin" / "xray-guard"), "audit", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "--format {table,json,csv}" in result.stdout
    installed = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import chalicelib.sinks.securityhub, chalicelib.cli; print('ok')"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert installed.stdout.strip() == "ok", installed.stderr


def _declared_closure(wheel: Path) -> set[str]:
    """The distributions the wheel's METADATA requires, and theirs, as installed here (normalised names)."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        pending = [line.split(":", 1)[1] for line in archive.read(metadata).decode().splitlines()
                   if line.startswith("Requires-Dist:")]  # fmt: skip
    found: set[str] = set()
    while pending:
        requirement = Requirement(pending.pop())
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        pending += importlib.metadata.requires(name) or []
    return found


def _linked(distributions: set[str], into: Path) -> Path:
    """A directory holding links to the top-level packages and modules (and metadata) of these distributions."""
    into.mkdir()
    for name in distributions:
        files = importlib.metadata.files(name) or []
        tops = {Path(str(f)).parts[0] for f in files if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            source = Path(str(importlib.metadata.distribution(name).locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)
    return into


def test_the_readme_layout_names_every_module() -> None:
    """Each folder's modules are named in that folder's part of the layout (the lines from `folder/` to the next
    top-level entry), so a module named like one elsewhere (xray.py, kms.py, __main__.py ...) is not vouched for by
    its namesake."""
    root = Path(__file__).resolve().parent.parent
    layout = (root / "README.md").read_text().split("## Layout", 1)[-1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    for line in layout.splitlines():
        if line and not line[0].isspace():
            current = line.split()[0]
        if line.strip():
            blocks[current] = blocks.get(current, "") + line + "\n"
    missing = []
    for folder in ("chalicelib/", "localaws/", "bench/", "demo/__main__.py"):
        modules = [p for p in (root / folder.removesuffix("__main__.py")).rglob("*.py") if p.name != "__init__.py"]
        assert modules, folder
        block = blocks.get(folder, "")
        missing += [str(p.relative_to(root)) for p in modules if p.name not in block and "__pycache__" not in p.parts]
    assert missing == []


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # -n prints the recipes without running them; -o keeps make from rebuilding the (shared, symlinked) .venv.
    return subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", *args],
        capture_output=True, text=True, cwd=ROOT, check=False, env=env,
    )  # fmt: skip


def _env_without_region() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"AWS_REGION", "AWS_DEFAULT_REGION", "CENTRAL_REGION"}}


def test_make_help_names_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    [phony] = re.findall(r"^\.PHONY:(.*)$", makefile, flags=re.MULTILINE)
    result = subprocess.run(["make", "-s", "help"], capture_output=True, text=True, cwd=ROOT, check=True)
    listed = set(re.findall(r"^make ([a-z-]+)", result.stdout, flags=re.MULTILINE))
    assert sorted(set(phony.split()) - listed) == []


def test_deploy_central_refuses_the_offline_default_region() -> None:
    # The Makefile exports AWS_DEFAULT_REGION=us-east-1 for chalice package; a deploy must never inherit it.
    refused = _make("deploy-central", "ARTIFACT_BUCKET=bucket", env=_env_without_region())
    assert refused.returncode != 0
    assert "CENTRAL_REGION" in refused.stderr
    assert "cloudformation" not in refused.stdout


def test_deploy_central_passes_the_named_region_to_every_aws_call() -> None:
    named = _make("deploy-central", "CENTRAL_REGION=eu-west-1", "ARTIFACT_BUCKET=bucket", env=_env_without_region())
    assert named.returncode == 0, named.stderr
    aws = [line for line in named.stdout.splitlines() if "/aws cloudformation" in line]
    assert len(aws) == 2
    assert all("--region eu-west-1" in line for line in aws)
    from_environment = _make(
        "deploy-central",
        "ARTIFACT_BUCKET=bucket",
        env={**_env_without_region(), "AWS_DEFAULT_REGION": "ap-southeast-2"},
    )
    assert from_environment.stdout.count("--region ap-southeast-2") == 2, from_environment.stderr


def test_offline_targets_need_no_region() -> None:
    result = _make("package", env=_env_without_region())
    assert result.returncode == 0, result.stderr
    assert re.search(r"\bchalice --project-dir \S+ package ", result.stdout), result.stdout
