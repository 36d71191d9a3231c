"""`pip install .` gives the `xray-guard` command: the wheel is built offline and installed into a fresh venv whose
dependencies come from this environment (a .pth file), so the test needs no package index."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

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
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # pydantic and botocore from here
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


def test_the_readme_layout_names_every_module() -> None:
    root = Path(__file__).resolve().parent.parent
    layout = (root / "README.md").read_text().split("## Layout", 1)[-1].split("\n## ", 1)[0]
    modules = {p.name for p in (root / "chalicelib").glob("*.py") if p.name != "__init__.py"}
    modules |= {p.name for p in (root / "chalicelib" / "sinks").glob("*.py") if p.name != "__init__.py"}
    assert modules, "no modules found"
    assert sorted(m for m in modules if m not in layout) == []
