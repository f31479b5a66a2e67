"""`sei monitoring run`: monitoring periods evaluated and signed on the command line, through the
core function the Dagster `<system>/monitoring` asset uses, and the seed-004 lifecycle scenarios
that land the loan system's drifted and degraded batches on a V2 sandbox.

The repositories are the loan manifest and data with a few days of its generated production
batches (tests/test_monitoring.py's helpers), or the small weekly system of
tests/test_monitoring_frequency.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core import monitoring, postmarket
from sei_assets.core.signing import verify_evidence
from tests.test_monitoring import DEGRADE, SHIFT, _days, loan_repo, write_batches


def _without_time(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "evaluated_at"}


def test_the_verb_signs_the_period_the_asset_signs(tmp_path: Path, sei) -> None:
    """The same day, once through a Dagster materialization of its partition and once through
    `sei monitoring run --day`: the same signed document (all but the time of evaluation)."""
    import dagster as dg

    from sei_assets.core.registry import SystemEntry
    from sei_assets.defs import build_definitions

    by_asset = loan_repo(tmp_path / "asset")
    by_verb = loan_repo(tmp_path / "verb")
    for repo in (by_asset, by_verb):
        write_batches(repo, 59, 60)
    defs = build_definitions([SystemEntry("loan", by_asset)])
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(["loan", "monitoring"])],
            partition_key=SHIFT,
            raise_on_error=False,
        )
    assert result.success
    r = sei("monitoring", "run", "--day", SHIFT, "--repo", str(by_verb))
    assert r.exit_code == 1, r.output  # the shifted day fires the PSI measure's trigger
    assert f"{SHIFT} [P1D] 300 rows: BREACH input-drift-psi" in r.output
    rel = monitoring.period_path(SHIFT)
    asset_doc = json.loads((by_asset / rel).read_text())
    verb_doc = json.loads((by_verb / rel).read_text())
    assert _without_time(verb_doc) == _without_time(asset_doc)
    assert verb_doc["source"]["version"] is not None
    # only the day asked for; signed with the reference's bins and the month's summary
    assert not (by_verb / monitoring.period_path(_days(59)[0])).exists()
    checked = verify_evidence(by_verb)
    assert checked.ok, checked
    signed = {Path(f.path).relative_to(by_verb).as_posix() for f in checked.files if f.ok}
    assert {rel, ".sei/monitoring/reference.json", ".sei/monitoring/summaries/2026-03.json"} <= (
        signed
    )
    assert [b.measure for b in postmarket.open_breaches(by_verb)] == ["input-drift-psi"]


def test_without_a_day_it_evaluates_what_is_new_as_the_sensor_would(tmp_path: Path, sei) -> None:
    repo = loan_repo(tmp_path)
    write_batches(repo, 58, 59, outcome_lag=30)
    code, doc = sei.json("monitoring", "run", "--repo", str(repo))
    assert code == 0
    assert [p["period"] for p in doc["periods"]] == _days(58, 59)
    assert doc["triggered"] == [] and doc["absent"] == []
    assert [p["file"] for p in doc["periods"]] == [monitoring.period_path(d) for d in _days(58, 59)]
    # nothing new: nothing evaluated, nothing written
    before = (repo / ".sei" / "index.json").read_bytes()
    r = sei("monitoring", "run", "--repo", str(repo))
    assert r.exit_code == 0 and "nothing new" in r.output
    assert (repo / ".sei" / "index.json").read_bytes() == before
    # a day re-delivered with its outcomes, and a new day: exactly those two
    write_batches(repo, 59, 95)
    code, doc = sei.json("monitoring", "run", "--repo", str(repo))
    assert code == 1
    assert [p["period"] for p in doc["periods"]] == [_days(59)[0], DEGRADE]
    assert doc["periods"][0]["source"]["outcomes_known"] == 300
    assert {t["measure"] for t in doc["triggered"]} == {"fairness-drift", "input-drift-psi"}
    assert all(t["period"] == DEGRADE for t in doc["triggered"])


def test_a_range_evaluates_the_days_it_holds_and_names_the_absent_ones(tmp_path: Path, sei) -> None:
    repo = loan_repo(tmp_path)
    write_batches(repo, 58, 60)
    code, doc = sei.json("monitoring", "run", "--from", "2026-02-27", "--to", SHIFT,
                         "--repo", str(repo))  # fmt: skip
    assert code == 1
    assert [p["period"] for p in doc["periods"]] == _days(58, 60)
    assert doc["absent"] == [
        {"period": "2026-02-27", "frequency": "P1D"},
        {"period": "2026-03-01", "frequency": "P1D"},
    ]
    assert doc["triggered"] == [{"period": SHIFT, "frequency": "P1D", "measure": "input-drift-psi"}]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--day", "2026-05-01"], "no production data 2026-05-01"),
        (["--from", "2026-05-01", "--to", "2026-05-03"], "from 2026-05-01 to 2026-05-03"),
        (["--day", "2026-02-28", "--from", "2026-02-28"], "--day or --from/--to, not both"),
        (["--from", "2026-02-28"], "needs both --from and --to"),
        (["--day", "2026-13-01"], "--day '2026-13-01': expected a day"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "ends (2026-03-01) before it starts"),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(
    tmp_path: Path, sei, args: list[str], message: str
) -> None:
    repo = loan_repo(tmp_path)
    write_batches(repo, 58)
    r = sei("monitoring", "run", *args, "--repo", str(repo))
    assert r.exit_code == 2 and message in r.stderr, r.output
    assert "Traceback" not in r.output and not (repo / ".sei").exists()


def test_a_source_outside_the_repository_is_refused_without_a_trace(tmp_path: Path, sei) -> None:
    repo = loan_repo(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    write_batches(repo, 58)
    (repo / "production" / "2026-02-28.csv").rename(tmp_path / "elsewhere" / "2026-02-28.csv")
    text = (repo / "sei.yaml").read_text().replace("path: production", "path: ../elsewhere")
    (repo / "sei.yaml").write_text(text)
    for args in ([], ["--day", "2026-02-28"]):
        r = sei("monitoring", "run", *args, "--repo", str(repo))
        assert r.exit_code == 2 and "leaves the repository" in r.stderr, r.output
        assert "Traceback" not in r.output and not (repo / ".sei").exists()


def test_a_system_without_a_production_source_is_refused(tmp_path: Path, sei) -> None:
    from tests.systems import make_system

    repo = make_system(tmp_path / "sys", "sys")
    r = sei("monitoring", "run", "--repo", str(repo))
    assert r.exit_code == 2 and "declares no monitoring.source" in r.stderr


def test_a_weekly_measure_gets_its_weeks_once_they_are_over(tmp_path: Path, sei) -> None:
    """A range holding days of two weeks: each day evaluated daily, each week (over) once on
    every day of it, in its own folder."""
    from tests.test_monitoring_frequency import _repo

    repo = _repo(tmp_path)
    code, doc = sei.json("monitoring", "run", "--from", "2026-03-08", "--to", "2026-03-11",
                         "--repo", str(repo))  # fmt: skip
    assert code == 1  # the daily measure on 03-11 (group b approved less)
    got = [(p["period"], p["frequency"]) for p in doc["periods"]]
    assert got == [
        ("2026-03-08", "P1D"),
        ("2026-03-09", "P1D"),
        ("2026-03-10", "P1D"),
        ("2026-03-11", "P1D"),
        ("2026-03-02", "P1W"),
        ("2026-03-09", "P1W"),
    ]
    weekly = doc["periods"][-1]
    assert weekly["file"] == ".sei/monitoring/P1W/2026-03-09.json"
    assert weekly["last_day"] == "2026-03-15" and weekly["source"]["rows"] == 7 * 100
    assert [(t["period"], t["frequency"], t["measure"]) for t in doc["triggered"]] == [
        ("2026-03-11", "P1D", "live-parity"),
        ("2026-03-09", "P1W", "weekly-parity"),
    ]
    assert verify_evidence(repo).ok


# ── the seed-004 lifecycle scenarios ────────────────────────────────────────────────────────


def test_verbs_of_a_command_group_build_their_command_line(tmp_path: Path) -> None:
    from sei_assets.scenarios.dialects.lifecycle.providers.base import Context, sei_executable
    from sei_assets.scenarios.dialects.lifecycle.providers.sei import argv, option_problems

    ctx = Context(tmp_path, tmp_path)
    assert argv(ctx, "monitor", {"from": "2026-03-01", "to": "2026-03-02"}) == [
        sei_executable(), "monitoring", "run", "--repo", str(tmp_path),
        "--from", "2026-03-01", "--to", "2026-03-02", "--json",
    ]  # fmt: skip
    assert argv(ctx, "incident_list", {})[1:3] == ["incident", "list"]
    assert option_problems("incident_open", {"class": "serious", "awareAt": "x", "by": "y"}) == []
    assert option_problems("monitor", {"week": "x"})[0].startswith(
        "sei monitoring run has no option --week"
    )


def _plane_answers(doc: dict) -> list[tuple[str, str, str | None, str | None]]:
    """(section, route, gate, reason) of each answer of the release control plane (a
    `sei control submit --json` step), read from the scenario's result document."""
    found = []
    for step in json.loads(Path(doc["result"]).read_text())["steps"]:
        observed = step.get("observation") or {}
        value = observed.get("value") if step["run"] == "process.exec" else None
        answer = value.get("json") if isinstance(value, dict) else None
        if isinstance(answer, dict) and "route" in answer:
            found.append((step["section"], answer["route"], answer["gate_id"], answer["reason"]))
    return found


def test_the_drifted_and_the_degraded_batch_scenarios(sei) -> None:
    """`post-market/drifted-batch` and `post-market/degraded-batch`, each through its Dagster
    job: the day before the fault quiet, the fault found on its day, status 1, the risk open,
    and the next release refused by the control plane, naming the breach."""
    result = sei("scenario", "run", "--include-tags", "post-market", "--json")
    docs = {d["scenario"]: d for d in json.loads(result.stdout)}
    assert set(docs) == {"post-market/drifted-batch", "post-market/degraded-batch"}
    failed = {
        name: [s for s in d["steps"] if s["status"] not in ("passed", "skipped")]
        for name, d in docs.items()
        if d["verdict"] != "PASSED"
    }
    assert result.exit_code == 0 and not failed, failed
    for d in docs.values():
        assert d["dagsterRun"]["success"]
        methods = [s for s in d["steps"] if s["section"] == "method"]
        assert [s["run"] for s in methods].count("sei.monitor") == 2
    verified = [s["run"] for s in docs["post-market/degraded-batch"]["steps"]]
    assert "sei.incident_open" in verified and "sei.incident_list" in verified
    # the next release is refused while the breach is open, the reason naming it and its risk
    blocked = ("verify", "Block", "promotion_requires_no_open_breach")
    degraded = _plane_answers(docs["post-market/degraded-batch"])
    assert [a[:3] for a in degraded] == [
        ("method", "Continue", None),  # evidence.verify
        ("method", "AskUser", "promotion_requires_approval"),  # before the breach
        blocked,
    ]
    assert "fairness-drift (risk.unfair-credit-exclusion): past < 0.03" in degraded[-1][3]
    drifted = _plane_answers(docs["post-market/drifted-batch"])
    assert [a[:3] for a in drifted] == [("method", "Continue", None), blocked]
    assert "input-drift-psi (risk.model-robustness): past < 0.2" in drifted[-1][3]
