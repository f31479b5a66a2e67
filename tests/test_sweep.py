"""The compliance sweep over many registered systems: 12 generated systems, 3 red, 2 due (the
same sweep at 500 systems is measured in bench/bench_sweep.py, not here)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from sei_assets.core import signing
from tests.systems import make_registry

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

SYSTEMS = 12
RED = frozenset({3, 7, 11})
DUE = frozenset({5, 8})


def test_sweep_of_many_systems(tmp_path: Path, monkeypatch) -> None:
    registry = make_registry(tmp_path / "systems", SYSTEMS, red=RED, due=DUE)
    from sei_assets.core.registry import load_registry
    from sei_assets.defs import build_definitions
    from sei_assets.defs.resources import SeiSettings

    defs = build_definitions(load_registry(registry))
    with dg.instance_for_test() as instance:
        sweep = defs.resolve_job_def("compliance_sweep").execute_in_process(
            instance=instance, raise_on_error=False
        )
        failed = {
            (e.asset_key.path[0], e.check_name)
            for e in sweep.get_asset_check_evaluations()
            if not e.passed
        }
        assert failed == {(f"sys_{i:03d}", "parity_gap") for i in RED} | {
            ("sweep_summary", f"sys_{i:03d}_review_current") for i in DUE
        }
        assert not sweep.success  # the red systems fail their own gate checks
        swept = {e.asset_key.to_user_string() for e in sweep.get_asset_materialization_events()}
        assert "sweep_summary" in swept  # a red system never blocks the overview
        assert {f"sys_{i:03d}/gate" for i in RED} <= swept
        assert not {f"sys_{i:03d}/release" for i in range(SYSTEMS)} & swept
        summary = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            instance=instance,
            selection=dg.AssetSelection.assets("sweep_summary"),
            resources={"sei": SeiSettings(state_dir=str(tmp_path / "state"))},
        )
        assert summary.success
        review = {e.check_name: e.passed for e in summary.get_asset_check_evaluations()}
        states = {
            e.check_name: e.metadata["state"].value for e in summary.get_asset_check_evaluations()
        }
        assert states["sys_005_review_current"] == "overdue"
        assert states["sys_004_review_current"] == "current"
        assert {n for n, ok in review.items() if not ok} == {
            f"sys_{i:03d}_review_current" for i in DUE
        }
        assert all(
            e.severity == dg.AssetCheckSeverity.WARN for e in summary.get_asset_check_evaluations()
        )
    out = tmp_path / "state" / "sweep"
    report = json.loads((out / "sweep.json").read_text())
    assert report["totals"] == {
        "systems": SYSTEMS,
        "green": SYSTEMS - len(RED),
        "red": 3,
        "no_evidence": 0,
        "stale": 0,
        "review_due": 2,
        "unverified": 0,
    }
    rows = {r["system"]: r for r in report["systems"]}
    assert rows["sys_003"]["gate"] == "red" and rows["sys_004"]["gate"] == "green"
    assert rows["sys_004"]["overall_residual"] == "MEDIUM"
    assert all(r["verified"] for r in rows.values())
    verdict = signing.verify_file(out / "sweep.json", (out / "PUBKEY.txt").read_text().strip())
    assert verdict.ok, verdict.reason


def test_not_evaluated_is_not_overdue() -> None:
    from sei_assets.defs.sweep import review_state

    fresh = {"system": "a", "generated_at": "2026-01-01T00:00:00Z", "review_interval": "P1Y"}
    assert review_state({**fresh, "review_due": False})[0] == "current"
    assert review_state({**fresh, "review_due": True})[0] == "overdue"
    state, text = review_state({"system": "b", "gate": None, "generated_at": None})
    assert state == "not_evaluated" and text.startswith("NOT EVALUATED b: no evidence yet")
    assert review_state({"system": "c", "error": "not a git repository"})[0] == "not_evaluated"


def test_fanout_sweep_queues_what_needs_it_then_the_summary(tmp_path: Path, monkeypatch) -> None:
    """`$SEI_SWEEP_MODE=fanout`: one run request per system without fresh evidence (tagged by
    system), the summary once none is in flight; a sweep of fresh systems is the summary
    alone. (tests/test_production.py runs the same through the queue and the workers.)"""
    from sei_assets.core.registry import load_registry
    from sei_assets.defs import build_definitions

    monkeypatch.setenv("SEI_SWEEP_MODE", "fanout")
    registry = make_registry(tmp_path / "systems", 3)
    defs = build_definitions(load_registry(registry))
    statuses = {s.name: s.default_status for s in defs.schedules}
    assert statuses["daily_compliance_sweep"] == dg.DefaultScheduleStatus.STOPPED
    sensor = defs.resolve_sensor_def("sei_sweep")
    job = defs.resolve_job_def("compliance_sweep")
    with dg.instance_for_test() as instance:

        def tick(cursor=None):
            return sensor(
                dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
            )

        first = tick()
        assert sorted(r.tags["sei/system"] for r in first.run_requests) == [
            "sys_000",
            "sys_001",
            "sys_002",
        ]
        assert {r.tags["sei/sweep_part"] for r in first.run_requests} == {"system"}
        for request in first.run_requests:
            job.execute_in_process(
                instance=instance, asset_selection=request.asset_selection, tags=request.tags
            )
        second = tick(first.cursor)
        assert [r.asset_selection for r in second.run_requests] == [[dg.AssetKey("sweep_summary")]]
        assert "reported" in tick(second.cursor).skip_reason.skip_message
        fresh = tick()  # a new sweep (the cursor deleted): every system fresh and verified
        assert [r.tags["sei/sweep_part"] for r in fresh.run_requests] == ["summary"]
