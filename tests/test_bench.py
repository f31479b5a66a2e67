"""Regression guard for the benchmarks: each one runs at a tiny size and prints its ratios.

Structure only (it ran, it printed a ratio): timings on a shared machine are not asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

BENCH = Path(__file__).resolve().parent.parent / "bench"
RATIO = re.compile(r"^.*\bratio\b.*\d+\.\d+.*$", re.M)

# script -> (tiny arguments, the ratio lines it must print)
TINY = {
    "bench_status.py": (["--rounds", "1", "--no-run"], ["sei status/dvc", "sei status/floor"]),
    "bench_reconstruct.py": (["--commits", "40", "--rounds", "1"], ["sei reconstruct/git log -p"]),
    "bench_verify.py": (["--n", "5", "--rounds", "1"], ["ours/bare"]),
    "bench_defs_load.py": (["--sizes", "1", "2", "--rounds", "1"], ["load(2)/load(1)"]),
    "bench_status_all.py": (["--n", "3", "--rounds", "1"], ["sei status --all"]),
}


@pytest.mark.parametrize("script", list(TINY))
def test_bench_runs_and_prints_its_ratios(script: str) -> None:
    args, expected = TINY[script]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ratios = [m.group(0) for m in RATIO.finditer(done.stdout)]
    assert ratios, done.stdout
    for name in expected:
        assert any(name in line for line in ratios), (name, done.stdout)


def test_bench_automation_drift_ticks() -> None:
    """bench_automation.py at a tiny size, `drift` mode: each no-op tick requests nothing, the
    edit of sys_007 requests one run of sys_007's assets only."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_automation.py"), "--sizes", "8", "9"]
        + ["--modes", "drift", "--setup", "engine"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for size in (8, 9):
        lines = [line for line in done.stdout.splitlines() if line.strip().startswith(f"{size} ")]
        assert any("no-op tick: 0 requested" in line for line in lines), done.stdout
        edit = next(line for line in lines if "after editing sys_007" in line)
        assert "1 run, ['sys_007/" in edit and "sys_00" not in edit.replace("sys_007", ""), edit
