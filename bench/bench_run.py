"""`sei run` and `sei compile` against `dvc repro` on the same loan repository, as whole commands.

    .venv/bin/python bench/bench_run.py [--rounds 5]

Prepares the loan system once (git + DVC, one real `sei run`), then times, in turns within each
round:

- unchanged repository: `python -c pass` (the interpreter's floor), `python -c "import dagster"`
  (Dagster's own floor), `dvc repro` (nothing to do), `sei run`, `sei run --no-repro` and
  `sei compile`;
- a changed treatment: `train.py` edited (a new comment line each time, so no cache can answer),
  then `dvc repro`; edited again, then `sei run` (which runs the same `dvc repro` inside).

Reports the median wall and CPU time of each and the ratios issue 32 sets: `sei run` on an
unchanged repository against `dvc repro` + 1.5 s, `sei run --no-repro` against 2 s, `sei compile`
against 1.5 s, and a changed `sei run` against 1.3 x the changed `dvc repro`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from timing import Rounds, machine, timed

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# As users run them: with bytecode caching (see bench/README.md on PYTHONDONTWRITEBYTECODE).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
# the pipeline's `python` is the project's (as `sei run` puts it first for `dvc repro`)
ENV["PATH"] = f"{BIN}{os.pathsep}{ENV.get('PATH', '')}"


def unchanged() -> dict[str, list[str]]:
    """The command lines measured on the unchanged repository, by label."""
    sei = str(BIN / "sei")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import dagster": [sys.executable, "-c", "import dagster"],
        "dvc repro": [str(BIN / "dvc"), "repro", "-q"],
        "sei run": [sei, "run"],
        "sei run --no-repro": [sei, "run", "--no-repro"],
        "sei compile": [sei, "compile"],
    }


def _touch_treatment(repo: Path, n: int) -> None:
    train = repo / "train.py"
    train.write_text(train.read_text() + f"\n# bench edit {n}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sei_assets.core.workspace import seed_repository

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ.setdefault("DAGSTER_HOME", str(Path(tmp) / "dagster"))
        os.environ.setdefault("SEI_STATE_DIR", str(Path(tmp) / "state"))
        os.environ.setdefault("SEI_KNOWN_KEYS", str(Path(tmp) / "known_keys.json"))
        ENV.update({k: os.environ[k] for k in ("SEI_SIGNING_KEY", "DAGSTER_HOME")})
        ENV.update({k: os.environ[k] for k in ("SEI_STATE_DIR", "SEI_KNOWN_KEYS")})
        Path(os.environ["DAGSTER_HOME"]).mkdir(exist_ok=True)
        repo = seed_repository(ROOT / "resources" / "loan", Path(tmp) / "loan")
        cmds = unchanged()
        labels = [*cmds, "dvc repro (changed)", "sei run (changed)"]

        def time_one(cmd: list[str]) -> tuple[float, float]:
            return timed(cmd, repo, ENV, ok=lambda code: code in (0, 1))  # 1: a red gate

        rounds = Rounds(labels)
        edits = 0
        for cmd in cmds.values():  # warm-up (bytecode, page cache, remembered results)
            time_one(cmd)
        for _ in range(args.rounds):
            for label, cmd in cmds.items():
                rounds.add(label, time_one(cmd))
            changed = (("dvc repro (changed)", "dvc repro"), ("sei run (changed)", "sei run"))
            for label, name in changed:
                edits += 1
                _touch_treatment(repo, edits)
                rounds.add(label, time_one(cmds[name]))
        med, mcpu = rounds.medians()
        print(machine())
        for label in labels:
            print(
                f"{label:<22} median {med[label]:6.2f} s wall, {mcpu[label]:6.2f} s CPU "
                f"over {args.rounds} runs"
            )
        goals = [
            ("sei run - dvc repro (goal <= 1.5 s)", med["sei run"] - med["dvc repro"], 1.5),
            ("sei run --no-repro (goal <= 2 s)", med["sei run --no-repro"], 2.0),
            ("sei compile (goal <= 1.5 s)", med["sei compile"], 1.5),
            (
                "changed: sei run / dvc repro (goal <= 1.3)",
                med["sei run (changed)"] / med["dvc repro (changed)"],
                1.3,
            ),
        ]
        for label, value, goal in goals:
            print(f"{label:<44} {value:6.2f}  {'met' if value <= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
