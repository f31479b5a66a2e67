"""The type checker on the package: mypy, run with the project's configuration
(`[tool.mypy]` in pyproject.toml: strict on `sei_assets.core`, mypy's defaults elsewhere), finds
no error. Its cache lives in `.sei-state/mypy-cache`, so a second run checks only what changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
CACHE = ROOT / ".sei-state" / "mypy-cache"


def _mypy(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(CONFIG), "--cache-dir", str(cache)]
        + list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_mypy_finds_no_error_in_the_package() -> None:
    proc = _mypy(ROOT, CACHE)
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 0 and not errors, (
        f"mypy found {len(errors)} error(s):\n{proc.stdout}{proc.stderr}"
    )
    # the configuration's `files` was read: the whole package was checked, not nothing
    assert "Success: no issues found in" in proc.stdout, proc.stdout + proc.stderr
    checked = int(proc.stdout.split("found in ")[1].split()[0])
    assert checked >= len(list((ROOT / "sei_assets").rglob("*.py"))) - 5


def test_the_core_is_strict_and_the_fronts_are_not(tmp_path: Path) -> None:
    """The same untyped function is an error in a core module and passes in a front."""
    untyped = "def double(x):\n    return x * 2\n"
    for package in ("sei_assets", "sei_assets/core", "sei_assets/defs"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "sei_assets/core/probe.py").write_text(untyped)
    (tmp_path / "sei_assets/defs/probe.py").write_text(untyped)
    # its own cache: the probe's `sei_assets` package must not stand in for the real one's
    probes = ("sei_assets/core/probe.py", "sei_assets/defs/probe.py")
    proc = _mypy(tmp_path, tmp_path / "mypy-cache", *probes)
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [e.split(":")[0] for e in errors] == ["sei_assets/core/probe.py"], proc.stdout
    assert "[no-untyped-def]" in errors[0]
