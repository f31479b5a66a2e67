"""`sei status` against `dvc status` on the same loan repository, as whole commands.

    .venv/bin/python bench/bench_status.py [--rounds 7] [--no-run]

Prepares the loan system once (git + DVC, one real `sei run` unless --no-run), then times, in
turns within each round: `python -c pass` (the floor: interpreter start), `sei status`,
`sei status --json`, the same verb through the full typer app (what `sei status` cost before the
lean entry point) and `dvc status`. Reports the median wall time of each and the ratios to
`dvc status` and to the floor. Both tools answer the same question (is anything stale?) without
recomputing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import Rounds, machine, timed

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# As users run them: with bytecode caching (a sandbox may set PYTHONDONTWRITEBYTECODE, which
# makes every Python command, ours and DVC alike, compile its modules on each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TYPER = "from sei_assets.cli import main; main()"


def commands() -> dict[str, list[str]]:
    """The measured command lines, by label."""
    sei = str(BIN / "sei")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "sei status": [sei, "status"],
        "sei status --json": [sei, "status", "--json"],
        "typer app status": [sys.executable, "-c", TYPER, "status"],
        "dvc status": [str(BIN / "dvc"), "status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-run", action="store_true", help="Skip the initial `sei run`.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sei_assets.core.workspace import seed_repository

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ.setdefault("DAGSTER_HOME", str(Path(tmp) / "dagster"))
        Path(os.environ["DAGSTER_HOME"]).mkdir(exist_ok=True)
        repo = seed_repository(ROOT / "resources" / "loan", Path(tmp) / "loan")
        if not args.no_run:
            subprocess.run([str(BIN / "sei"), "run"], cwd=repo, capture_output=True)
        cmds = commands()
        rounds = Rounds(list(cmds))
        rounds.run(cmds, args.rounds, lambda cmd: timed(cmd, repo, ENV))
        med, mcpu = rounds.medians()
        print(machine())
        for label in cmds:
            print(
                f"{label:<20} median {med[label] * 1000:7.0f} ms wall, "
                f"{mcpu[label] * 1000:6.0f} ms CPU over {args.rounds} runs"
            )
        floor, dvc = med["python -c pass"], med["dvc status"]
        for label in ("sei status", "sei status --json", "typer app status"):
            print(
                f"ratio {label + '/dvc':<24} {med[label] / dvc:5.2f} wall "
                f"({mcpu[label] / mcpu['dvc status']:.2f} CPU)"
                f"   ratio {label + '/floor':<26} {med[label] / floor:5.1f}"
            )


if __name__ == "__main__":
    main()
