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
        "swept": 0,  # one run of every system's chain: no sweep decided anything
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


def _summary(result) -> dict:
    """The `sweep_summary` a sensor tick recorded: the materialization's metadata, and each
    review check's verdict."""
    (done,) = [e for e in result.asset_events if isinstance(e, dg.AssetMaterialization)]
    assert done.asset_key == dg.AssetKey("sweep_summary")
    table = {r.data["system"]: r.data["decision"] for r in done.metadata["systems"].value.records}
    checks = {
        e.check_name: e.passed
        for e in result.asset_events
        if isinstance(e, dg.AssetCheckEvaluation)
    }
    return {"decisions": table, "checks": checks, "swept": done.metadata["swept"].value}


def test_fanout_sweep_runs_what_changed_and_reports_without_a_run(
    tmp_path: Path, monkeypatch
) -> None:
    """`$SEI_SWEEP_MODE=fanout`: one run request per system that needs it (tagged by system);
    once none is in flight the sensor records the summary itself; a sweep of unchanged systems
    launches no run and verifies nothing again; an edited system, or one whose evidence was
    altered, is the only one re-run;
    `$SEI_SWEEP_BATCH` puts several systems in one run; `{"force": true}` re-runs all.
    (tests/test_production.py runs the same through the queue and the workers.)"""
    from sei_assets.core import fleet
    from sei_assets.core import sweep as core_sweep
    from sei_assets.core.registry import load_registry
    from sei_assets.defs import build_definitions
    from sei_assets.defs.resources import settings_from_environment

    monkeypatch.setenv("SEI_SWEEP_MODE", "fanout")
    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))  # its own last report
    monkeypatch.setattr(fleet, "RACY_SECONDS", 0.0)  # files written a moment ago are trusted
    names = ["sys_000", "sys_001", "sys_002"]
    registry = make_registry(tmp_path / "systems", 3)
    defs = build_definitions(load_registry(registry))
    statuses = {s.name: s.default_status for s in defs.schedules}
    assert statuses["daily_compliance_sweep"] == dg.DefaultScheduleStatus.STOPPED
    sensor = defs.resolve_sensor_def("sei_sweep")
    job = defs.resolve_job_def("compliance_sweep")
    sei = settings_from_environment()
    with dg.instance_for_test() as instance:

        def tick(cursor=None):
            return sensor(
                dg.build_sensor_context(
                    instance=instance, definitions=defs, cursor=cursor, resources={"sei": sei}
                )
            )

        def execute(requests) -> None:
            for request in requests:
                result = job.execute_in_process(
                    instance=instance, asset_selection=request.asset_selection, tags=request.tags
                )
                assert result.success

        first = tick()
        assert sorted(r.tags["sei/system"] for r in first.run_requests) == names
        assert {r.tags["sei/sweep_part"] for r in first.run_requests} == {"system"}
        assert json.loads(first.cursor)["decided"] == dict.fromkeys(names, "not evaluated")
        execute(first.run_requests)
        second = tick(first.cursor)
        assert not second.run_requests
        summary = _summary(second)
        assert summary["decisions"] == dict.fromkeys(names, "not evaluated")
        assert summary["swept"] == 3
        assert summary["checks"] == {f"{n}_review_current": True for n in names}
        assert "reported" in tick(second.cursor).skip_reason.skip_message

        # a sweep of unchanged systems: no run, and no system verified or read again
        def refused(*args, **kwargs):
            raise AssertionError("an unchanged system was read again")

        with monkeypatch.context() as m:
            m.setattr(core_sweep, "_read_row", refused)
            fresh = tick()
        assert not fresh.run_requests
        # one event: the review states did not change, so no check evaluation is written again
        assert _summary(fresh) == {
            "decisions": dict.fromkeys(names, "fresh"),
            "checks": {},
            "swept": 0,
        }
        out = tmp_path / "state" / "sweep" / "sweep.json"
        report = json.loads(out.read_text())
        assert [r["decision"] for r in report["systems"]] == ["fresh"] * 3
        # a review state that changed since the last report is written, alone
        report["systems"][0]["review_due"] = True
        out.write_text(json.dumps(report))
        assert _summary(tick())["checks"] == {"sys_000_review_current": True}

        # an edited system is the only one re-run, and the summary says why
        params = tmp_path / "systems" / "sys_001" / "params.yaml"
        params.write_text("bias: 0.2\n")
        edited = tick()
        assert [r.tags["sei/system"] for r in edited.run_requests] == ["sys_001"]
        (reason,) = json.loads(edited.cursor)["decided"].values()
        assert reason.startswith("stale (")
        execute(edited.run_requests)
        after = _summary(tick(edited.cursor))
        assert after["decisions"] == {"sys_000": "fresh", "sys_001": reason, "sys_002": "fresh"}

        # evidence altered beside an unchanged bundle: the remembered row is not trusted
        bom = tmp_path / "systems" / "sys_002" / ".sei" / "bom.cdx.json"
        bom.write_text(bom.read_text().replace("{", "{ ", 1))
        tampered = tick()
        assert [r.tags["sei/system"] for r in tampered.run_requests] == ["sys_002"]
        assert json.loads(tampered.cursor)["decided"] == {"sys_002": "unverified"}
        execute(tampered.run_requests)
        assert _summary(tick(tampered.cursor))["decisions"]["sys_002"] == "unverified"

        # batched: two systems per run, every system a step of one of two runs
        monkeypatch.setenv("SEI_SWEEP_BATCH", "2")
        forced = tick(json.dumps({"force": True}))
        assert [len(r.asset_selection) for r in forced.run_requests] == [8, 4]
        assert {r.tags["sei/sweep_part"] for r in forced.run_requests} == {"batch"}
        assert json.loads(forced.cursor)["decided"] == dict.fromkeys(names, "forced")
        execute(forced.run_requests)
        assert _summary(tick(forced.cursor))["swept"] == 3
        monkeypatch.setenv("SEI_SWEEP_BATCH", "many")
        with pytest.raises(Exception, match="SEI_SWEEP_BATCH='many': expected a whole number"):
            tick(json.dumps({"force": True}))
        # an operator's one-off batch size, in the cursor, wins over the environment
        one_run = tick(json.dumps({"force": True, "batch": 3}))
        assert [len(r.asset_selection) for r in one_run.run_requests] == [12]
        with pytest.raises(Exception, match="cursor's batch='0': expected a whole number"):
            tick(json.dumps({"force": True, "batch": 0}))

        # an operator's request (`sei sweep request`): a file, taken by the next tick, which a
        # tick in flight cannot write over (a cursor set by hand it can)
        out = tmp_path / "state" / "sweep"
        reported = json.dumps({"sweep": "2026-01-01T06:00:00Z", "due": "9999", "summary": True})
        assert "reported" in tick(reported).skip_reason.skip_message
        core_sweep.request_sweep(out, force=True, batch=3)
        asked = tick(reported)
        assert [len(r.asset_selection) for r in asked.run_requests] == [12]
        assert json.loads(asked.cursor)["decided"] == dict.fromkeys(names, "forced")
        assert not (out / "request.json").exists()
        (out / "request.json").write_text('{"force": "yes"}')
        with pytest.raises(Exception, match=r"request.json: force: expected true or false"):
            tick(reported)
        assert "reported" in tick(reported).skip_reason.skip_message  # refused once, gone

        # retention: no job unless asked; then finished sweep runs older than N days go
        monkeypatch.delenv("SEI_SWEEP_BATCH")
        assert "sweep_run_retention" not in {j.name for j in defs.jobs}
        swept = instance.get_runs(dg.RunsFilter(tags={"sei/sweep_part": "system"}))
        assert len(swept) >= 4
        monkeypatch.setenv("SEI_SWEEP_KEEP_DAYS", "7")
        kept = build_definitions(load_registry(registry)).resolve_job_def("sweep_run_retention")
        assert kept.execute_in_process(instance=instance).success
        assert len(instance.get_runs(dg.RunsFilter(tags={"sei/sweep_part": "system"}))) == len(
            swept
        )
        monkeypatch.setenv("SEI_SWEEP_KEEP_DAYS", "0")
        purge = build_definitions(load_registry(registry)).resolve_job_def("sweep_run_retention")
        done = purge.execute_in_process(instance=instance)
        assert done.success
        assert not [r for r in instance.get_runs() if "sei/sweep" in r.tags]
        assert instance.get_run_by_id(done.run_id) is not None  # not a sweep run: kept
        assert not instance.all_logs(swept[0].run_id)  # its event log went with it
        monkeypatch.setenv("SEI_SWEEP_KEEP_DAYS", "a week")
        with pytest.raises(Exception, match="SEI_SWEEP_KEEP_DAYS='a week': expected a whole"):
            build_definitions(load_registry(registry))


def test_sei_sweep_request_writes_the_request_the_sensor_takes(
    tmp_path: Path, sei, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sei sweep request [--force] [--batch N] [--team T]`: the request file in the (team's)
    sweep folder of the state folder; a team that is not a registry's stem is refused."""
    from sei_assets.core.sweep import take_request

    state = tmp_path / "state"
    monkeypatch.setenv("SEI_STATE_DIR", str(state))
    result = sei("sweep", "request", "--force", "--batch", "5", "--team", "credit")
    assert result.exit_code == 0, result.output
    assert "every system" in result.stdout
    assert take_request(state / "sweep" / "credit") == {"force": True, "batch": 5}
    assert sei("sweep", "request").exit_code == 0
    assert take_request(state / "sweep") == {"force": False}
    refused = sei("sweep", "request", "--team", "../elsewhere")
    assert refused.exit_code == 2 and "registry file's stem" in refused.stderr
    assert not (tmp_path / "elsewhere").exists()
