"""Post-market monitoring of the loan system: a backfill of its 120 daily partitions, the idle
tick and the tick after one new batch.

    .venv/bin/python bench/bench_monitoring.py [--days 120]

Set-up (not timed): a git repository with the loan system's manifest and data, its generator's
`--days` production batches in `production/`, a registry naming it, a Dagster instance on disk
(SQLite, as `dagster dev` keeps it) in a temporary folder.

Timed:
1. the backfill as CI or an operator runs it, one command:
   `dagster asset materialize -m sei_assets.definitions --select loan/monitoring
   --partition-range <first>...<last>` (the code location loaded, one run for the range,
   every day evaluated, every check of every partition recorded, every period signed);
   its step's own time from the run's events, and the per-partition cost;
2. one `sei_monitoring` sensor tick with nothing new (must request 0 runs);
3. one more batch lands: one tick (must request exactly that day's partition).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAN = ROOT / "resources" / "loan"


def _generator():
    path = LOAN / "monitoring" / "generate_batches.py"
    spec = importlib.util.spec_from_file_location("gen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup(tmp: Path, days: int) -> tuple[Path, dict[str, str]]:
    repo = tmp / "loan"
    (repo / "data").mkdir(parents=True)
    shutil.copy(LOAN / "sei.yaml", repo)
    for name in ("german_credit.csv", "german_credit.croissant.json"):
        shutil.copy(LOAN / "data" / name, repo / "data")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "d"],
        check=True,
    )
    _generator().generate(repo / "production", days=days)
    registry = tmp / "systems.yaml"
    registry.write_text(json.dumps({"systems": [{"name": "loan", "repo": str(repo)}]}))
    home = tmp / "dagster"
    home.mkdir()
    env = dict(
        os.environ,
        SEI_SYSTEMS_FILE=str(registry),
        SEI_STATE_DIR=str(tmp / "state"),
        SEI_SIGNING_KEY=str(tmp / "key.pem"),
        DAGSTER_HOME=str(home),
    )
    return repo, env


FLOOR = """
import time, warnings
warnings.filterwarnings("ignore")
import dagster as dg
parts = dg.DailyPartitionsDefinition(start_date="{first}")
key = dg.AssetKey(["loan", "monitoring"])
names = ("fairness_drift", "input_drift_psi", "human_review_of_denials")
checks = [dg.AssetCheckSpec(n, asset=key, partitions_def=parts) for n in names]
@dg.multi_asset(specs=[dg.AssetSpec(key, partitions_def=parts, skippable=True)],
    check_specs=checks, backfill_policy=dg.BackfillPolicy.single_run(), can_subset=True)
def floor(context: dg.AssetExecutionContext):
    for day in context.partition_keys:
        yield dg.AssetMaterialization(key, partition=day)
        for n in names:
            yield dg.AssetCheckEvaluation(asset_key=key, check_name=n, passed=True, partition=day)
job = dg.Definitions(assets=[floor]).resolve_implicit_global_asset_job_def()
start = time.perf_counter()
job.execute_in_process(instance=dg.DagsterInstance.get(), tags={{
    "dagster/asset_partition_range_start": "{first}",
    "dagster/asset_partition_range_end": "{last}"}})
print(time.perf_counter() - start)
"""


def floor_time(env: dict[str, str], first: str, last: str) -> float:
    """Seconds Dagster alone takes to record the same events (one materialization and three
    check evaluations per day) on the same kind of instance, with empty bodies."""
    home = Path(env["DAGSTER_HOME"]).parent / "floor"
    home.mkdir()
    code = FLOOR.format(first=first, last=last)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(env, DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=120)
    args = parser.parse_args()
    gen = _generator()
    first = gen.START.isoformat()
    last = (gen.START + dt.timedelta(days=args.days - 1)).isoformat()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        repo, env = setup(tmp, args.days)
        command = [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "sei_assets.definitions",
            "--select",
            "loan/monitoring",
            "--partition-range",
            f"{first}...{last}",
        ]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-3000:])
            raise SystemExit(f"backfill failed: exit {done.returncode}")
        os.environ.update(env)
        import dagster as dg

        from sei_assets.core.registry import load_registry
        from sei_assets.defs import build_definitions

        instance = dg.DagsterInstance.get()
        key = dg.AssetKey(["loan", "monitoring"])
        parts = instance.get_materialized_partitions(key)
        records = instance.get_records_for_run(
            run_id=instance.get_runs(limit=1)[0].run_id,
            of_type=dg.DagsterEventType.STEP_SUCCESS,
        ).records
        step_ms = records[0].event_log_entry.dagster_event.event_specific_data.duration_ms
        docs = len(list((repo / ".sei" / "monitoring").glob("????-??-??.json")))
        print(f"backfill of {args.days} daily partitions, one command: {wall:.1f} s wall")
        print(
            f"  its step: {step_ms / 1000:.1f} s, {step_ms / args.days:.0f} ms per partition; "
            f"{len(parts)} partitions materialized, {docs} signed period documents"
        )
        entries = load_registry()
        sensor = build_definitions(entries).resolve_sensor_def("sei_monitoring")
        cursor = None
        start = time.perf_counter()
        result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
        first_tick = time.perf_counter() - start
        cursor = result.cursor
        breaches = [r.run_key for r in result.run_requests or []]
        start = time.perf_counter()
        result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
        idle = time.perf_counter() - start
        print(f"first tick after the backfill: {first_tick * 1000:.0f} ms, raises {breaches}")
        print(f"idle tick: {idle * 1000:.0f} ms, {len(result.run_requests or [])} runs requested")
        cursor = result.cursor
        gen.generate(repo / "production", days=args.days + 1, first=args.days)
        start = time.perf_counter()
        result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
        new = time.perf_counter() - start
        asked = [
            (r.partition_key, [k.to_user_string() for k in r.asset_selection])
            for r in result.run_requests or []
        ]
        print(f"tick after one new batch: {new * 1000:.0f} ms, requests {asked}")
        floor = floor_time(env, first, last)
        print(
            f"Dagster alone, same events, empty bodies: {floor:.1f} s "
            f"({floor * 1000 / args.days:.0f} ms per partition)"
        )


if __name__ == "__main__":
    main()
