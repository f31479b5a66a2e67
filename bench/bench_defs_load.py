"""Dagster definitions load time with 1, 100 and 500 registered systems (10 controls each).

    .venv/bin/python bench/bench_defs_load.py [--sizes 1 100 500] [--rounds 3]

Each measurement is a fresh interpreter that imports `sei_assets.definitions` with a registry
of N copies of the loan system and resolves the asset graph; the time is taken inside the
process around the import (Python start-up excluded). Reports the ratio load(max)/load(1),
twice: with the systems' declarations prepared (`sei init` writes them, the compile step
refreshes them; what a deployed code location loads with) and unprepared (every manifest
parsed at load, as on the first load of a fresh registry).

`--floor` also measures the fewest Dagster definitions a system with one asset check per
control can have (one multi-asset of 8 assets and one multi-asset check of 11 checks per
system, every system's 3 sources in one observable multi-source; empty bodies, no manifest
read) at the same sizes, and the
best ratio any per-system asset graph could reach: load(1) + (N - 1) x the floor's cost per
system, over load(1).
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
    "import time; t=time.perf_counter(); c=time.process_time();"
    "from sei_assets.definitions import defs;"
    "g=defs.resolve_asset_graph();"
    "n=len(list(g.asset_check_keys));"
    "print(time.perf_counter()-t, time.process_time()-c, n)"
)

FLOOR = """
import time, warnings
import dagster as dg
warnings.filterwarnings("ignore")
t, c = time.perf_counter(), time.process_time()
assets, checks, sources = [], [], []
for i in range({n}):
    name = f"s{{i}}"
    def k(leaf, name=name):
        return dg.AssetKey([name, leaf])
    chain = ["manifest", "assessment_plan", "pipeline_run", "evidence_bundle", "gate", "release"]
    specs = [dg.AssetSpec(k(b), group_name=name, deps=[k(a)]) for a, b in zip(chain, chain[1:])]
    specs += [dg.AssetSpec(k(x), group_name=name, deps=[k("evidence_bundle")])
              for x in ("conformance", "risk_cycle", "impact")]
    @dg.multi_asset(specs=specs, name=f"{{name}}__graph", can_subset=True)
    def graph(context: dg.AssetExecutionContext):
        pass
    sources += [dg.AssetSpec(k(x), group_name=name) for x in ("manifest", "dataset", "treatment")]
    spec = [dg.AssetCheckSpec(f"c{{j}}", asset=k("gate"), blocking=True) for j in range(11)]
    @dg.multi_asset_check(specs=spec, name=f"{{name}}_controls", can_subset=True)
    def controls(context: dg.AssetCheckExecutionContext):
        pass
    assets.append(graph)
    checks.append(controls)
@dg.multi_observable_source_asset(specs=sources, name="sources", can_subset=True)
def observe(context):
    pass
assets.append(observe)
dg.Definitions(assets=assets, asset_checks=checks).resolve_asset_graph()
print(time.perf_counter() - t, time.process_time() - c)
"""


def floor_time(n: int) -> tuple[float, float]:
    """(wall, CPU) seconds to build and resolve the floor shape of ``n`` systems (dagster
    imported)."""
    out = subprocess.run(
        [sys.executable, "-c", FLOOR.format(n=n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


PREPARE = (
    "from sei_assets.core import declarations; from sei_assets.core.registry import load_registry;"
    "assert all(v is None for v in declarations.prepare(load_registry()).values())"
)


def load_time(n: int, tmp: Path, prepared: bool) -> tuple[float, float, int]:
    """(wall, CPU, asset checks) of one load of ``n`` systems, declarations prepared or not."""
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
    state = tmp / f"state-{n}-{'prepared' if prepared else 'unprepared'}"
    env = dict(os.environ, SEI_SYSTEMS_FILE=str(registry), SEI_STATE_DIR=str(state))
    if prepared and not state.exists():
        subprocess.run([sys.executable, "-c", PREPARE], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    wall, cpu, checks = out.stdout.split()
    return float(wall), float(cpu), int(checks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="also time the floor shape")
    args = parser.parse_args()
    lo, hi = min(args.sizes), max(args.sizes)
    cpus: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prepared in (True, False):
            label = "prepared" if prepared else "unprepared"
            wall, cpu = {}, cpus.setdefault(label, {})
            # the sizes interleaved round by round: a slow spell of the machine falls on all
            # of them alike rather than on one size's rounds
            measured: dict[int, list] = {n: [] for n in args.sizes}
            for _ in range(args.rounds):
                for n in args.sizes:
                    measured[n].append(load_time(n, Path(tmp), prepared))
            for n in args.sizes:
                runs = measured[n]
                wall[n] = statistics.median(r[0] for r in runs)
                cpu[n] = statistics.median(r[1] for r in runs)
                print(
                    f"{n:4d} systems, {label}: {wall[n]:6.2f} s wall, {cpu[n]:6.2f} s CPU "
                    f"(median of {args.rounds}), {runs[0][2]} asset checks"
                )
            print(
                f"{label}: ratio load({hi})/load({lo}) = {wall[hi] / wall[lo]:.2f} (wall), "
                f"{cpu[hi] / cpu[lo]:.2f} (CPU)"
            )
    if args.floor:
        floors = [[floor_time(n) for _ in range(args.rounds)] for n in args.sizes]
        floor_cpu = {
            n: statistics.median(r[1] for r in runs)
            for n, runs in zip(args.sizes, floors, strict=True)
        }
        for n, runs in zip(args.sizes, floors, strict=True):
            print(
                f"{n:4d} systems, floor shape: {statistics.median(r[0] for r in runs):6.2f} s "
                f"wall, {floor_cpu[n]:6.2f} s CPU (median of {args.rounds})"
            )
        per_system = (floor_cpu[hi] - floor_cpu[lo]) / (hi - lo)
        cpu = cpus["prepared"]
        ours = (cpu[hi] - cpu[lo]) / (hi - lo)
        best = (cpu[lo] + per_system * (hi - lo)) / cpu[lo]
        print(
            f"CPU per system: ours (prepared) {ours * 1000:.1f} ms, "
            f"floor shape {per_system * 1000:.1f} ms; "
            f"best ratio load({hi})/load({lo}) any per-system asset graph could reach = "
            f"{best:.1f} (CPU)"
        )


if __name__ == "__main__":
    main()
