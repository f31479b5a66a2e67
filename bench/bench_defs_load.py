"""Dagster definitions load time with 1, 100 and 500 registered systems (10 controls each).

    .venv/bin/python bench/bench_defs_load.py [--sizes 1 100 500] [--rounds 3]

Each measurement is a fresh interpreter that imports `sei_assets.definitions` with a registry
of N copies of the loan system and resolves the asset graph; the time is taken inside the
process around the import (Python start-up excluded). Reports the ratio load(max)/load(1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import time; t=time.perf_counter();"
    "from sei_assets.definitions import defs;"
    "g=defs.resolve_asset_graph();"
    "n=len(list(g.asset_check_keys));"
    "print(time.perf_counter()-t, n)"
)


def load_time(n: int, tmp: Path) -> tuple[float, int]:
    registry = tmp / f"systems-{n}.yaml"
    seed = ROOT / "resources" / "loan"
    registry.write_text(
        yaml.safe_dump(
            {
                "systems": [
                    {"name": f"loan_{i}", "repo": str(tmp / f"absent-{i}"), "seed": str(seed)}
                    for i in range(n)
                ]
            }
        )
    )
    env = dict(os.environ, SEI_SYSTEMS_FILE=str(registry))
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    seconds, checks = out.stdout.split()
    return float(seconds), int(checks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            runs = [load_time(n, Path(tmp)) for _ in range(args.rounds)]
            results[n] = statistics.median(t for t, _ in runs)
            print(
                f"{n:4d} systems: {results[n]:6.2f} s (median of {args.rounds}), "
                f"{runs[0][1]} asset checks"
            )
    lo, hi = min(args.sizes), max(args.sizes)
    print(f"ratio load({hi})/load({lo}) = {results[hi] / results[lo]:.1f}")


if __name__ == "__main__":
    main()
