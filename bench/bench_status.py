"""`sei status` against `dvc status` on the same loan repository, as whole commands.

    .venv/bin/python bench/bench_status.py [--rounds 7]

Prepares the loan system once (git + DVC, one real `sei run`), then times both commands,
alternating, and reports the median wall time of each and the ratio sei/dvc. Both answer the
same question (is anything stale?) without recomputing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sei_assets.core.workspace import seed_repository

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ.setdefault("DAGSTER_HOME", str(Path(tmp) / "dagster"))
        Path(os.environ["DAGSTER_HOME"]).mkdir(exist_ok=True)
        repo = seed_repository(ROOT / "resources" / "loan", Path(tmp) / "loan")
        subprocess.run([str(BIN / "sei"), "run"], cwd=repo, capture_output=True)
        sei, dvc = [], []
        for _ in range(args.rounds):
            sei.append(_time([str(BIN / "sei"), "status"], repo))
            dvc.append(_time([str(BIN / "dvc"), "status"], repo))
        s, d = statistics.median(sei), statistics.median(dvc)
        print(f"sei status  median {s * 1000:7.0f} ms over {args.rounds} runs")
        print(f"dvc status  median {d * 1000:7.0f} ms over {args.rounds} runs")
        print(f"ratio sei/dvc {s / d:.2f}")


if __name__ == "__main__":
    main()
