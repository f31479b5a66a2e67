"""`sei status --all` over N registered systems, as a whole command.

    .venv/bin/python bench/bench_status_all.py [--n 100] [--rounds 7]

Creates N small systems (tests/systems.py: the `file` reproducer, a git repository each, one
in ten red, one stale by a data edit, one approved), evaluates and signs each with the engine
directly (no Dagster), registers them in a systems file, then times, in turns within each
round: `python -c pass` (the floor: interpreter start), `sei status --all` and
`sei status --all --json` (rows remembered); and once before them, the cold call that reads
every system. Reports the median wall time and CPU time of each, the per-system
cost above the floor, and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def prepare(root: Path, n: int) -> Path:
    """N evaluated systems under ``root`` and their registry; the registry's path."""
    sys.path.insert(0, str(ROOT))
    from sei_assets.core import engine, governance
    from tests.systems import make_registry

    registry = make_registry(root, n, red=frozenset(range(0, n, 10)))
    for i in range(n):
        engine.run(root / f"sys_{i:03d}", repro=True)
    subprocess.run(["git", "-C", str(root / "sys_001"), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root / "sys_001"), "-c", "commit.gpgsign=false", "commit", "-qm", "ev"],
        check=True,
        env=dict(os.environ, GIT_AUTHOR_NAME="B", GIT_AUTHOR_EMAIL="b@x.test")
        | {"GIT_COMMITTER_NAME": "B", "GIT_COMMITTER_EMAIL": "b@x.test"},
    )
    governance.request(root / "sys_001", "Dev <dev@example.test>")
    if n > 2:
        data = root / "sys_002" / "data" / "records.csv"
        data.write_text(data.read_text() + "a,1\n")  # class C drift
    return registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ["SEI_STATE_DIR"] = str(Path(tmp) / "state")
        for who in ("AUTHOR", "COMMITTER"):
            os.environ.setdefault(f"GIT_{who}_NAME", "Bench")
            os.environ.setdefault(f"GIT_{who}_EMAIL", "bench@example.test")
        registry = prepare(Path(tmp) / "systems", args.n)
        env = dict(ENV, SEI_SYSTEMS_FILE=str(registry), SEI_STATE_DIR=os.environ["SEI_STATE_DIR"])
        sei = str(BIN / "sei")
        cmds = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "sei status --all": [sei, "status", "--all"],
            "sei status --all --json": [sei, "status", "--all", "--json"],
        }
        # cold: no row remembered yet (every system read: manifest, hashes, git)
        cold_wall, cold_cpu, _ = _time(cmds["sei status --all"], env)
        codes = {label: _time(cmd, env)[2] for label, cmd in cmds.items()}  # warm-up
        wall: dict[str, list[float]] = {label: [] for label in cmds}
        cpu: dict[str, list[float]] = {label: [] for label in cmds}
        for _ in range(args.rounds):
            for label, cmd in cmds.items():
                w, c, _code = _time(cmd, env)
                wall[label].append(w)
                cpu[label].append(c)
    floor = statistics.median(wall["python -c pass"])
    print(f"{args.n} registered systems, {args.rounds} rounds, medians")
    print(
        f"{'sei status --all (cold)':26s} wall {cold_wall * 1000:7.1f} ms  cpu "
        f"{cold_cpu * 1000:7.1f} ms  (once, before any row is remembered)"
    )
    for label in cmds:
        w, c = statistics.median(wall[label]), statistics.median(cpu[label])
        line = f"{label:26s} wall {w * 1000:7.1f} ms  cpu {c * 1000:7.1f} ms  exit {codes[label]}"
        if label != "python -c pass":
            per = (w - floor) / args.n * 1000
            line += f"  ratio to floor {w / floor:.2f}  ({per:.2f} ms per system above it)"
        print(line)


if __name__ == "__main__":
    main()
