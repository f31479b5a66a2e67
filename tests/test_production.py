"""The production profile of deploy/ against the real parts: Postgres, Redis, `dagster-daemon`
with the queued run coordinator, two dagster-celery workers, a team code location of 8
generated systems (bench/bench_sweep.py measures the same profile at 500). One shared run:

1. `sei_sweep` starts a sweep: one queued run per system, tagged `sei/system`;
2. mid-sweep the worker process executing one system's run is killed with SIGKILL;
3. the sensor's cursor is reset (`dagster sensor cursor --delete`, an operator's act, made
   again if a tick in flight wrote its own cursor over it): a second sweep overlaps the first,
   so systems still waiting get a second run in the queue;
4. once the sensor recorded the second sweep's summary, the cursor is reset again: a sweep of
   fresh systems, which launches no run at all (the sensor records the summary itself);
5. an operator forces a full sweep in batches (`sei sweep request --force --batch 4`, a file
   the sensor takes at its next tick): two runs of four systems each.

Meanwhile the embedded default (SQLite, in-process, one run) sweeps a copy of the systems.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sei_assets.core import signing
from tests import cluster as infra
from tests.systems import make_registry

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

if not shutil.which("redis-server") or not any(d.exists() for d in infra.PG_BIN_DIRS):
    if os.environ.get("SEI_REQUIRE_SERVICES"):
        raise RuntimeError("tests/test_production.py needs Debian's postgresql and redis-server")
    pytest.skip(
        "Debian's postgresql and redis-server are not installed (.ci/run installs them)",
        allow_module_level=True,
    )

SYSTEMS = 8
RED = frozenset({3, 6})
SLOW = "sys_005"  # its pipeline takes 8 s: the run the killed worker was executing
COMPARED = ("gate", "stale_sections", "overall_residual", "review_due", "verified", "name")


def _slow_down(root: Path) -> None:
    script = root / SLOW / "make_metrics.py"
    script.write_text("import time\ntime.sleep(8)\n" + script.read_text())
    git = ["git", "-c", "user.name=Gen", "-c", "user.email=gen@example.test"]
    subprocess.run([*git, "commit", "-qam", "slow pipeline"], cwd=root / SLOW, check=True)


def _wait(what: str, predicate, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _pid_of(instance, run_id: str) -> int | None:
    """The pid the run's steps execute in (its in-process executor's engine event)."""
    import dagster as dg

    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records:
        event = record.event_log_entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None:
            return int(pid.value)
    return None


def _step_started(instance, run_id: str, step: str) -> bool:
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    return any(r.event_log_entry.step_key == step for r in records)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory):
    import dagster as dg

    started = time.monotonic()
    root = tmp_path_factory.mktemp("production")
    registry = make_registry(root / "systems", SYSTEMS, red=RED)
    reference_registry = make_registry(root / "reference", SYSTEMS, red=RED)
    _slow_down(root / "systems")
    _slow_down(root / "reference")
    with infra.cluster(root / "cluster", registry) as c:
        reference = subprocess.Popen(  # the embedded default, alongside
            [
                str(infra.BIN / "python"),
                "-c",
                "import json, sys; from pathlib import Path; from tests.cluster import "
                "reference_sweep; json.dump(reference_sweep(Path(sys.argv[1]), "
                "Path(sys.argv[2])), open(sys.argv[3], 'w'))",
                str(reference_registry),
                str(root / "reference-state"),
                str(root / "reference.json"),
            ],
            cwd=infra.ROOT,
            # another deployment: its own key and its own trust store (same system names
            # signed by another key in one store would be, rightly, a KEY CHANGED)
            env={
                **c.env,
                "SEI_SIGNING_KEY": str(root / "reference-key.pem"),
                "SEI_KNOWN_KEYS": str(root / "reference-known-keys.json"),
                "XDG_CONFIG_HOME": str(root / "reference-config"),
            },
        )
        c.start_worker("w1")
        c.start_worker("w2")
        c.start_daemon()
        instance = c.instance()
        facts: dict = {"cluster": c, "instance": instance, "root": root}

        def run_of(system: str):
            runs = instance.get_runs(dg.RunsFilter(tags={"sei/system": system}))
            return runs[-1] if runs else None

        # 2. the worker process executing the slow system's run, killed mid-step
        slow = _wait("the slow system's run to start", lambda: run_of(SLOW), 120)
        _wait(
            "its system step",
            lambda: _step_started(instance, slow.run_id, f"{SLOW}__system"),
            120,
            0.3,
        )
        pid = _pid_of(instance, slow.run_id)
        pools = {n: c.pool_children(n) for n in c.workers}
        assert any(pid in pids for pids in pools.values()), (pid, pools)
        os.kill(pid, signal.SIGKILL)
        facts["killed"] = (slow.run_id, pid)

        # 3. a second sweep over the first (systems still waiting get a second run)
        done = dg.RunsFilter(
            tags={"sei/sweep_part": "system"}, statuses=[dg.DagsterRunStatus.SUCCESS]
        )
        # a quarter: the rest still queued or running when the second sweep starts (resetting
        # takes a `dagster` process, seconds; with half, the first sweep could end before it)
        quarter = SYSTEMS // 4
        _wait(f"{quarter} systems swept", lambda: instance.get_runs_count(done) >= quarter, 180)
        second = c.start_sweep(instance, timeout=300)
        _wait("the second sweep's summary", lambda: c.summary_of(instance, second), 240, 2)
        facts["sweep_seconds"] = time.monotonic() - started

        # 4. a sweep of fresh systems: no run, the summary recorded by the sensor
        fresh = c.start_sweep(instance, timeout=300)
        facts["fresh"] = _wait(
            "the fresh sweep's summary", lambda: c.summary_of(instance, fresh), 240, 2
        )
        facts["report"] = json.loads(
            (c.root / "state" / "sweep" / "lab" / "sweep.json").read_text()
        )

        # 5. a full sweep forced by an operator's request, half the systems per run
        forced = c.request_sweep(instance, "--force", "--batch", str(SYSTEMS // 2))
        facts["forced"] = _wait(
            "the forced sweep's summary", lambda: c.summary_of(instance, forced), 300, 2
        )
        assert reference.wait(240) == 0
        facts["reference"] = json.loads((root / "reference.json").read_text())
        print(f"production run: {time.monotonic() - started:.0f} s")
        yield facts


def test_every_run_is_recorded_in_postgres(production) -> None:
    import dagster as dg

    instance, c = production["instance"], production["cluster"]
    runs = instance.get_runs()
    rows = dict(_query(c, "SELECT run_id, status FROM runs"))
    ((events, size),) = _query(
        c, "SELECT count(*), sum(length(event)) FROM event_logs WHERE run_id <> ''"
    )
    assert rows == {r.run_id: r.status.value for r in runs}
    assert not [r for r in runs if r.status in infra_in_flight()]
    swept = {
        r.tags["sei/system"]
        for r in runs
        if r.status == dg.DagsterRunStatus.SUCCESS and "sei/system" in r.tags
    }
    red = {f"sys_{i:03d}" for i in RED}
    assert swept | red == {f"sys_{i:03d}" for i in range(SYSTEMS)}
    # each launched run went to a celery worker
    launched = [r for r in runs if r.status != dg.DagsterRunStatus.CANCELED]
    assert all("dagster-celery/task_id" in r.tags for r in launched)
    system_runs = [r for r in runs if r.tags.get("sei/sweep_part") == "system"]
    print(
        f"{len(runs)} runs ({len(system_runs)} system runs), {events} events, "
        f"{size / 1024:.0f} KiB of event log, {size / max(1, len(system_runs)) / 1024:.1f} KiB "
        f"per system run; sweep of {SYSTEMS} systems with 2 workers: "
        f"{production['sweep_seconds']:.0f} s"
    )


def infra_in_flight():
    from sei_assets.defs.sweep import IN_FLIGHT

    return IN_FLIGHT


def test_one_run_per_system_at_a_time(production) -> None:
    instance = production["instance"]
    by_system: dict[str, list] = {}
    for record in instance.get_run_records():
        system = record.dagster_run.tags.get("sei/system")
        if system and record.start_time:
            by_system.setdefault(system, []).append((record.start_time, record.end_time))
    twice = {s for s, spans in by_system.items() if len(spans) > 1}
    assert twice, "no system had two runs: the overlapping sweep did not overlap"
    for system, spans in by_system.items():
        spans.sort()
        for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
            assert e1 is not None and s2 >= e1, f"{system}: two runs at once"
    edges = sorted(
        [(s, 1) for spans in by_system.values() for s, _e in spans]
        + [(e, -1) for spans in by_system.values() for _s, e in spans]
    )
    running = peak = 0
    for _t, step in edges:
        running += step
        peak = max(peak, running)
    assert peak <= 2  # the global cap (SEI_MAX_CONCURRENT_RUNS)


def test_results_equal_the_embedded_sqlite_run(production) -> None:
    report, reference = production["report"], production["reference"]
    assert report["totals"] == reference["totals"]
    assert report["totals"]["red"] == len(RED) and report["totals"]["unverified"] == 0

    def rows(doc: dict) -> dict:
        return {r["system"]: {k: r.get(k) for k in COMPARED} for r in doc["systems"]}

    assert rows(report) == rows(reference)


def test_a_killed_worker_loses_no_evidence(production) -> None:
    import dagster as dg

    instance = production["instance"]
    run_id, _pid = production["killed"]
    killed = instance.get_run_by_id(run_id)
    assert killed.status == dg.DagsterRunStatus.FAILURE
    retry = instance.get_run_by_id(killed.tags["dagster/auto_retry_run_id"])
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    assert retry.tags["sei/system"] == SLOW
    root = production["root"] / "systems"
    for i in range(SYSTEMS):
        repo = root / f"sys_{i:03d}"
        assert signing.verify_evidence(repo).ok, repo
        assert not list((repo / ".sei").glob(".staging-*")), repo


def test_a_sweep_of_fresh_systems_launches_no_run(production) -> None:
    import dagster as dg

    instance = production["instance"]
    fresh = production["fresh"]
    assert fresh["runs"] == 0 and fresh["swept"] == 0
    assert not instance.get_runs(dg.RunsFilter(tags={"sei/sweep": fresh["sweep"]}))
    decisions = {r["system"]: r["decision"] for r in production["report"]["systems"]}
    assert decisions == {f"sys_{i:03d}": "red" if i in RED else "fresh" for i in range(SYSTEMS)}
    assert production["report"]["generated_at"] >= fresh["sweep"]


def test_a_forced_sweep_runs_in_batches(production) -> None:
    """Two runs of half the systems each; each system's evidence made again; the event log
    written per system smaller than with a run per system (the run's own events are shared)."""
    import dagster as dg

    instance, c = production["instance"], production["cluster"]
    forced = production["forced"]
    assert forced["swept"] == SYSTEMS and forced["runs"] == 2 and forced["red"] == len(RED)
    batches = instance.get_runs(dg.RunsFilter(tags={"sei/sweep": forced["sweep"]}))
    assert sorted(r.tags["sei/sweep_part"] for r in batches) == ["batch", "batch"]
    assert all("dagster-celery/task_id" in r.tags for r in batches)
    # a red system fails its own batch's gate checks; the others in it are still evaluated
    report = json.loads((c.root / "state" / "sweep" / "lab" / "sweep.json").read_text())
    assert report["generated_at"] >= forced["sweep"]
    assert {r["decision"] for r in report["systems"]} == {"forced"}
    for row in report["systems"]:
        assert row["generated_at"] >= forced["sweep"], row["system"]
    singles = [
        r.run_id for r in instance.get_runs(dg.RunsFilter(tags={"sei/sweep_part": "system"}))
    ]
    per_system = _event_bytes(c, singles) / len(singles)
    batched = _event_bytes(c, [r.run_id for r in batches]) / SYSTEMS
    print(
        f"event log per system: {per_system / 1024:.1f} KiB with a run per system, "
        f"{batched / 1024:.1f} KiB in batches of {SYSTEMS // 2}"
    )
    assert batched < per_system


def _event_bytes(c: infra.Cluster, run_ids: list[str]) -> int:
    sql = "SELECT sum(length(event)) FROM event_logs WHERE run_id = ANY(%s)"
    ((size,),) = _query(c, sql, (run_ids,))
    return int(size or 0)


def _query(c: infra.Cluster, sql: str, args: tuple = ()) -> list[tuple]:
    """The rows of ``sql`` in the profile's Postgres database."""
    import psycopg2

    env = c.env
    with (
        psycopg2.connect(
            host=env["DAGSTER_PG_HOST"],
            port=env["DAGSTER_PG_PORT"],
            user=env["DAGSTER_PG_USER"],
            dbname=env["DAGSTER_PG_DB"],
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(sql, args)
        return list(cur.fetchall())
