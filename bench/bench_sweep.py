"""Sweep throughput on the production profile: N systems, 1 or 2 celery workers.

    .venv/bin/python bench/bench_sweep.py --systems 100 --workers 2 --batch 25

For each worker count: a fresh Postgres, Redis, `dagster-daemon` and the workers of
deploy/dagster.yaml (tests/cluster.py), N generated systems (file reproducer), then:
1. the first sweep (every system needs a run): the wall time from the daemon's start to the
   summary the `sei_sweep` sensor records, its runs (one per system, or one per `--batch`
   systems), and the event log it left in Postgres per system;
2. a no-op sweep (the sensor's cursor deleted, as an operator would, nothing changed): the
   sensor tick's own duration (Dagster's tick record), the runs it launched and the event log
   it wrote per system;
3. a forced full sweep (`{"force": true, "batch": B}` as the cursor): wall time from the
   cursor's change to the summary, runs, event log per system.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _summary(c, instance, sweep: str) -> dict:
    while (found := c.summary_of(instance, sweep)) is None:
        time.sleep(0.5)
    return found


def _event_bytes(env: dict, where: str, args: tuple = ()) -> int:
    import psycopg2

    with (
        psycopg2.connect(
            host=env["DAGSTER_PG_HOST"],
            port=env["DAGSTER_PG_PORT"],
            user="dagster",
            dbname="dagster",
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(f"SELECT coalesce(sum(length(event)), 0) FROM event_logs WHERE {where}", args)
        return int(cur.fetchone()[0])


def _tick_seconds(instance, sweep: str) -> float:
    """The duration of the `sei_sweep` tick whose cursor names ``sweep`` and its summary."""
    for state in instance.all_instigator_state():
        if state.instigator_name != "sei_sweep":
            continue
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=50):
            if tick.cursor and sweep in tick.cursor and tick.end_timestamp:
                return tick.end_timestamp - tick.timestamp
    return float("nan")


def _runs_of(instance, sweep: str) -> list:
    import dagster as dg

    return [
        r
        for r in instance.get_run_records(dg.RunsFilter(tags={"sei/sweep": sweep}))
        if r.end_time and r.start_time
    ]


def _describe(label: str, systems: int, wall: float, runs: list, size: int) -> None:
    durations = [r.end_time - r.start_time for r in runs]
    median = f", median run {statistics.median(durations):.1f} s" if durations else ""
    print(
        f"{label}: {wall:.0f} s wall, {wall / systems:.2f} s per system; {len(runs)} runs"
        f"{median}; event log {size / 1024 / systems:.1f} KiB per system",
        flush=True,
    )


def sweep(systems: int, workers: int, batch: int) -> None:
    from tests import cluster as infra
    from tests.systems import make_registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = make_registry(Path(tmp) / "systems", systems)
        env = {"SEI_SWEEP_BATCH": str(batch), "SEI_MAX_CONCURRENT_RUNS": str(2 * workers)}
        with infra.cluster(Path(tmp) / "cluster", registry, extra_env=env) as c:
            for i in range(workers):
                c.start_worker(f"w{i + 1}")
            label = f"{systems} systems, {workers} worker(s), batch {batch}"
            start = time.monotonic()
            c.start_daemon()
            instance = c.instance()
            while not (sweep := c.sweep_cursor(instance).get("sweep")):
                time.sleep(0.5)  # the sensor's first tick starts the first sweep
            first = _summary(c, instance, sweep)
            wall = time.monotonic() - start
            runs = _runs_of(instance, first["sweep"])
            size = _event_bytes(c.env, "run_id = ANY(%s)", ([r.dagster_run.run_id for r in runs],))
            _describe(f"{label}: first sweep", systems, wall, runs, size)

            before = _event_bytes(c.env, "run_id = ''")
            noop = _summary(c, instance, c.start_sweep(instance, timeout=600))
            written = _event_bytes(c.env, "run_id = ''") - before
            deadline = time.monotonic() + 120
            while (tick := _tick_seconds(instance, noop["sweep"])) != tick and (
                time.monotonic() < deadline
            ):
                time.sleep(0.5)  # nan until the tick has written its events and ended
            print(
                f"{label}: no-op sweep: sensor tick {tick:.2f} s, "
                f"{len(_runs_of(instance, noop['sweep']))} runs, swept {noop['swept']}, event log "
                f"{written / 1024 / systems:.2f} KiB per system (ticks included)",
                flush=True,
            )

            start = time.monotonic()
            cursor = json.dumps({"force": True, "batch": batch})
            forced = _summary(c, instance, c.start_sweep(instance, cursor, timeout=600))
            wall = time.monotonic() - start
            runs = _runs_of(instance, forced["sweep"])
            size = _event_bytes(c.env, "run_id = ANY(%s)", ([r.dagster_run.run_id for r in runs],))
            _describe(f"{label}: forced full sweep", systems, wall, runs, size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--batch", type=int, default=25, help="systems per run (1: one each)")
    args = parser.parse_args()
    for workers in args.workers:
        sweep(args.systems, workers, args.batch)


if __name__ == "__main__":
    main()
