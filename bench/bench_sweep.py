"""Sweep throughput on the production profile: N systems, 1 or 2 celery workers.

    .venv/bin/python bench/bench_sweep.py --systems 100 --workers 1 2

For each worker count: a fresh Postgres, Redis, `dagster-daemon` and the workers of
deploy/dagster.yaml (tests/cluster.py), N generated systems (file reproducer), then the wall
time from the daemon's start to the sweep summary's success (every system swept through the
queue, one run each), the cost per system, the event log it left in Postgres, and a second,
no-op sweep (the sensor's cursor deleted, as an operator would): its runs and wall time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sweep(systems: int, workers: int) -> None:
    import dagster as dg
    import psycopg2

    from tests import cluster as infra
    from tests.systems import make_registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = make_registry(Path(tmp) / "systems", systems)
        with infra.cluster(Path(tmp) / "cluster", registry) as c:
            c.env["SEI_MAX_CONCURRENT_RUNS"] = str(2 * workers)
            for i in range(workers):
                c.start_worker(f"w{i + 1}")
            start = time.monotonic()
            c.start_daemon()
            instance = c.instance()
            summaries = dg.RunsFilter(
                tags={"sei/sweep_part": "summary"}, statuses=[dg.DagsterRunStatus.SUCCESS]
            )
            while instance.get_runs_count(summaries) < 1:
                time.sleep(2)
            wall = time.monotonic() - start
            records = [
                r
                for r in instance.get_run_records()
                if r.dagster_run.tags.get("sei/sweep_part") == "system"
            ]
            durations = [r.end_time - r.start_time for r in records if r.end_time and r.start_time]
            env = c.env
            with (
                psycopg2.connect(
                    host=env["DAGSTER_PG_HOST"],
                    port=env["DAGSTER_PG_PORT"],
                    user="dagster",
                    dbname="dagster",
                ) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("SELECT count(*), sum(length(event)) FROM event_logs")
                events, size = cur.fetchone()
                cur.execute("SELECT pg_database_size('dagster')")
                (db_size,) = cur.fetchone()
            print(
                f"{systems} systems, {workers} worker(s): sweep {wall:.0f} s wall, "
                f"{wall / systems:.2f} s per system; {len(records)} system runs, median run "
                f"{statistics.median(durations):.1f} s; event log {events} events, "
                f"{size / 1024 / systems:.0f} KiB per system, database {db_size / 2**20:.0f} MiB",
                flush=True,
            )
            start = time.monotonic()
            argv = [str(infra.BIN / "dagster"), "sensor", "cursor", "sei_sweep", "--delete"]
            subprocess.run(
                [*argv, "-w", str(c.workspace)], env=c.env, check=True, capture_output=True
            )
            while instance.get_runs_count(summaries) < 2:
                time.sleep(1)
            last = instance.get_runs(summaries, limit=1)[0].tags["sei/sweep"]
            part = instance.get_runs(dg.RunsFilter(tags={"sei/sweep": last}))
            took = time.monotonic() - start
            print(
                f"{systems} systems, {workers} worker(s): no-op sweep {took:.0f} s (cursor reset "
                f"included), runs {[r.tags['sei/sweep_part'] for r in part]}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for workers in args.workers:
        sweep(args.systems, workers)


if __name__ == "__main__":
    main()
