#!/usr/bin/env python3
"""Set up the project's environment in .venv and run the main job or the tests.

    python3 tasks.py demo   # the loan system end to end: V1 red -> treatment -> V2 green
    python3 tasks.py test   # the test suite

Needs only Python 3.11+ and git: it creates .venv, installs uv there, and syncs the locked
dependencies (uv.lock) into it. Nothing is installed outside the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".sei-state" / "bootstrap"  # a venv holding only uv, outside the synced .venv
_BIN = "Scripts" if os.name == "nt" else "bin"
BIN = VENV / _BIN
UV_VERSION = "0.13.9"


def sh(*args: str | Path, env: dict | None = None) -> None:
    """Run a command, echoing it; stop with its exit code when it fails."""
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    if code:
        sys.exit(code)


def setup() -> dict:
    """Create .venv with the locked dependencies; return the environment to run in."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before any environment exists
        sys.exit("sei-assets needs Python 3.11 or newer")
    uv = TOOLS / _BIN / "uv"
    if not uv.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        sh(TOOLS / _BIN / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV), VIRTUAL_ENV=str(VENV))
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    # Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on some CI
    # images), every `sei` and Dagster process would otherwise compile its imports from source,
    # which was 40% of a `sei run`. Later syncs only check it (a few seconds).
    sh(uv, "sync", "--frozen", "--quiet", "--compile-bytecode", "--python", sys.executable, env=env)
    sh(BIN / "python", "-m", "compileall", "-q", "-j", "0", "sei_assets", env=env)
    return env


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    if task not in ("demo", "test", "setup"):
        sys.exit(__doc__)
    env = setup()
    if task == "demo":
        sh(BIN / "python", "-m", "sei_assets.cli.demo", *sys.argv[2:], env=env)
    elif task == "test":
        # two workers (CI has 2 cores); most tests wait on real tools in subprocesses
        workers = ["-n", os.environ.get("SEI_TEST_WORKERS", "2"), "--dist", "worksteal"]
        # the slowest tests, printed at the end (CI's log is where the suite's time is read)
        durations = (
            [] if any(a.startswith("--durations") for a in sys.argv[2:]) else ["--durations=30"]
        )
        sh(BIN / "python", "-m", "pytest", *workers, *durations, *sys.argv[2:], env=env)


if __name__ == "__main__":
    main()
