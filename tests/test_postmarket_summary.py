"""The monthly post-market summary (Art. 72, Annex IV point 9): per month and measure the periods
monitored and the breaches, the month's incidents with their Art. 73 deadline met or missed;
signed with the periods and incident records that change it; `sei monitoring summary`.

A small generated system (the `file` reproducer, never run) with one monitoring measure and a
handful of two-group daily batches around a month's end: no pipeline, no Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sei_assets.core import incident, monitoring, postmarket_summary
from sei_assets.core.evidence import dump
from sei_assets.core.fsutil import sha256_bytes
from sei_assets.core.manifest import load_manifest
from sei_assets.core.signing import load_or_create_key, verify_evidence
from tests.systems import make_system
from tests.test_postmarket import LIVE, _batch

BY = "Quality Lead <quality@example.com>"
#: day -> (approval rate of group a, of group b); a gap of 0.05 or more is a breach
DAYS = {
    "2026-03-30": (0.7, 0.7),
    "2026-03-31": (0.7, 0.4),
    "2026-04-01": (0.7, 0.4),
    "2026-04-02": (0.7, 0.4),
    "2026-04-03": (0.7, 0.7),
    "2026-04-04": (0.2, 0.7),
}


def monitored_repo(
    tmp: Path, days: dict[str, tuple[float, float]] = DAYS, repo: Path | None = None
) -> Path:
    """A generated system declaring a folder of daily batches, its ``days`` monitored."""
    repo = repo or make_system(tmp / "sys", "sys")
    doc = yaml.safe_load((repo / "sei.yaml").read_text())
    doc["risk"]["risks"][0]["treat"][0]["measures"].append(LIVE)
    doc["monitoring"] = {
        "source": {"path": "production", "prediction": "approved", "sensitive": ["group"]},
        "start": "2026-03-01",
    }
    (repo / "sei.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (repo / "production").mkdir()
    for day, (a, b) in days.items():
        _batch(repo / "production" / f"{day}.csv", a, b)
    monitoring.monitor(repo, load_manifest(repo), list(days), load_or_create_key())
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return monitored_repo(tmp_path)


def _summary(repo: Path, month: str) -> dict:
    return json.loads((repo / postmarket_summary.path_for(month)).read_text())


def test_monitoring_writes_each_months_summary_signed_with_its_periods(repo: Path) -> None:
    checked = verify_evidence(repo)
    assert checked.ok, checked
    signed = {Path(f.path).as_posix().split("/.sei/")[-1] for f in checked.files if f.ok}
    assert {"monitoring/summaries/2026-03.json", "monitoring/summaries/2026-04.json"} <= signed
    march, april = _summary(repo, "2026-03"), _summary(repo, "2026-04")
    assert [p["period"] for p in april["periods"]] == [d for d in DAYS if d.startswith("2026-04")]
    # each period is named with the digest of its signed document
    for p in april["periods"]:
        data = (repo / monitoring.period_path(p["period"])).read_bytes()
        assert p["sha256"] == "sha256:" + sha256_bytes(data)
    (live,) = april["measures"]
    assert (live["measure"], live["frequency"], live["threshold"]) == (
        "live-parity",
        "P1D",
        "< 0.05",
    )
    assert live["periods_monitored"] == 4 and live["periods_not_measured"] == 0
    # a breach is a run of consecutive breaching periods: first and last day
    assert live["breaches"] == [
        {"first": "2026-04-01", "last": "2026-04-02", "periods": 2},
        {"first": "2026-04-04", "last": "2026-04-04", "periods": 1},
    ]
    assert (live["min"], live["max"]) == (0.0, pytest.approx(0.5))
    assert march["measures"][0]["breaches"] == [
        {"first": "2026-03-31", "last": "2026-03-31", "periods": 1}
    ]
    assert april["totals"]["triggered_breaches"] == ["live-parity"]
    assert april["as_of"] == april["to"] == "2026-05-01T00:00:00Z"  # evaluated since
    # same evidence, same bytes: the summary is made again exactly
    again = postmarket_summary.documents(repo, ["2026-04"])
    assert (
        dump(again[postmarket_summary.path_for("2026-04")])
        == (repo / postmarket_summary.path_for("2026-04")).read_bytes()
    )


def test_incidents_of_the_month_with_their_deadline_met_or_missed(repo: Path) -> None:
    # two incidents known in April: one reported within its 2 days, one reported late
    on_time = incident.open_incident(
        repo, "bulk denials", "widespread", BY, "2026-04-01T09:00:00Z", ["live-parity"]
    )
    late = incident.open_incident(repo, "a complaint", "serious", BY, "2026-04-02T10:00:00Z")
    # the incident record itself refreshes April's summary (same transaction)
    april = _summary(repo, "2026-04")
    assert [i["id"] for i in april["incidents"]] == [on_time["id"], late["id"]]
    # as of the end of April (the periods were evaluated since), nothing was reported: missed
    assert [i["deadline_outcome"] for i in april["incidents"]] == ["missed", "missed"]
    incident.update_incident(repo, on_time["id"], BY, reported_at="2026-04-02T12:00:00Z")
    incident.update_incident(repo, late["id"], BY, reported_at="2026-04-20T12:00:00Z")
    april = _summary(repo, "2026-04")
    rows = {i["id"]: i for i in april["incidents"]}
    assert rows[on_time["id"]]["deadline_outcome"] == "met"
    assert rows[late["id"]]["deadline_outcome"] == "missed"  # 15 days from 04-02: 04-17
    assert rows[on_time["id"]]["opened_in_month"] and not rows[late["id"]]["closed_in_month"]
    assert april["totals"]["deadlines_met"] == 1 and april["totals"]["deadlines_missed"] == 1
    assert april["totals"]["incidents_opened"] == 2
    assert verify_evidence(repo).ok
    assert "2026-03" not in {i["deadline"][:7] for i in _summary(repo, "2026-03")["incidents"]}


def test_deadline_outcome_is_judged_as_of_the_evidence_not_the_clock() -> None:
    import datetime as dt

    record = {"deadline": "2026-04-10T00:00:00Z"}
    before = dt.datetime(2026, 4, 9, tzinfo=dt.UTC)
    after = dt.datetime(2026, 4, 11, tzinfo=dt.UTC)
    assert postmarket_summary.deadline_outcome(record, before) == "pending"
    assert postmarket_summary.deadline_outcome(record, after) == "missed"
    record["reported_at"] = "2026-04-10T00:00:00Z"
    assert postmarket_summary.deadline_outcome(record, after) == "met"


def test_sei_monitoring_summary(repo: Path, sei) -> None:
    r = sei("monitoring", "summary", "--month", "2026-04", "--repo", str(repo))
    assert r.exit_code == 1, r.output  # the month holds a breach that fires its trigger
    assert "2026-04: 4 period(s) monitored" in r.output
    assert "live-parity [P1D] < 0.05: 4 measured, 0 not measured; BREACH" in r.output
    assert "2026-04-01..2026-04-02 (2); 2026-04-04" in r.output
    code, docs = sei.json("monitoring", "summary", "--repo", str(repo))
    assert code == 1 and [d["month"] for d in docs] == ["2026-03", "2026-04"]
    assert verify_evidence(repo).ok
    quiet = monitored_repo(repo.parent.parent / "quiet", {"2026-05-01": (0.7, 0.7)})
    assert sei("monitoring", "summary", "--repo", str(quiet)).exit_code == 0
    bad = sei("monitoring", "summary", "--month", "2026-13", "--repo", str(repo))
    assert bad.exit_code == 2 and "expected YYYY-MM" in bad.output
    assert "Traceback" not in bad.output


def test_the_dossier_shows_each_month_under_annex_iv_point_9(tmp_path: Path) -> None:
    """Point 9 of the dossier draws each signed monthly summary (measures, breach runs, the
    month's incidents and their deadlines) and cites its file; same evidence, same bytes."""
    from sei_assets.core import engine
    from sei_assets.core.documents import dossier

    repo = make_system(tmp_path / "sys", "sys")
    engine.run(repo)  # the evidence set, without Dagster
    monitored_repo(tmp_path, DAYS, repo)
    found = incident.open_incident(repo, "bulk denials", "widespread", BY, "2026-04-01T09:00Z")
    first = dossier.build(repo, pdf=False)
    html = first.html.read_text()
    point9 = html[html.index('id="annex-iv-9"') : html.index('aria-labelledby="soa"')]
    assert "Post-market monitoring results, by month" in point9
    assert "2026-03: 2 period(s) monitored" in point9 and "2026-04: 4 period(s)" in point9
    assert "2026-04-01 – 2026-04-02 (2)" in point9 and "2026-04-04 (1)" in point9
    assert found["id"] in point9 and "MISSED" in point9
    assert ".sei/monitoring/summaries/2026-04.json" in point9
    assert "breaches that fire their trigger: live-parity" in html  # an open point
    # same evidence, same bytes
    again = dossier.build(repo, pdf=False)
    assert again.html.read_bytes() == first.html.read_bytes()
    assert verify_evidence(repo).ok


# ── the conformance projection of the post-market clauses ──────────────────────────────────


def _post_market_clauses(loaded, **state) -> dict[str, tuple[str, str]]:
    from sei_assets.core import conformance
    from tests.test_conformance import _loan_bundle

    bundle = _loan_bundle(loaded, set())
    out = {}
    for standard, clause in (
        ("eu/ai-act@2024", "art-72"),
        ("eu/ai-act@2024", "art-73"),
        ("iso/42001@2023", "9.1"),
    ):
        doc = conformance.project(loaded, bundle, standard, **state)
        (c,) = [c for c in doc["payload"]["clauses"] if c["clause_id"] == clause]
        out[clause] = (c["decision"], c["basis"])
    return out


CURRENT = {
    "periods": 30,
    "currency": [{"last_period": "2026-04-30", "frequency": "P1D", "post_market_current": True}],
    "incidents": 1,
    "deadlines_missed": [],
}


def test_post_market_clauses_need_signed_current_periods_and_met_deadlines() -> None:
    """A system with a production source: Art. 72, Art. 73 and ISO/IEC 42001 9.1 are met only
    with signed, current monitoring periods and no missed incident deadline; a gap otherwise,
    whatever its plan says."""
    from tests.test_conformance import LOAN

    loaded = load_manifest(LOAN)
    assert loaded.manifest.monitoring is not None
    met = _post_market_clauses(loaded, post_market=CURRENT)
    assert {k: d for k, (d, _b) in met.items()} == {
        "art-72": "covered",
        "art-73": "covered",
        "9.1": "covered",
    }
    assert met["art-72"][1].startswith("post_market: 30 signed monitoring period(s), current")
    none = _post_market_clauses(loaded)
    assert {d for d, _b in none.values()} == {"gap"}
    assert "no signed monitoring period" in none["art-72"][1]
    stale = {**CURRENT, "currency": [{**CURRENT["currency"][0], "post_market_current": False}]}
    late = _post_market_clauses(loaded, post_market=stale)
    assert late["art-72"][0] == "gap" and "not current (P1D last 2026-04-30)" in late["art-72"][1]
    missed = _post_market_clauses(loaded, post_market={**CURRENT, "deadlines_missed": ["INC-1"]})
    assert {d for d, _b in missed.values()} == {"gap"}
    assert "deadline missed: INC-1" in missed["art-73"][1]
    refused = _post_market_clauses(loaded, post_market=CURRENT, evidence_verified=False)
    assert refused["9.1"][0] == "gap" and "do not verify" in refused["9.1"][1]


def test_without_a_production_source_the_plan_decides_as_before(tmp_path: Path) -> None:
    from tests.test_conformance import LOAN

    (tmp_path / "sei.yaml").write_text(LOAN.read_text().split("\n# ── 7.")[0] + "\n")
    loaded = load_manifest(tmp_path)
    assert loaded.manifest.monitoring is None
    for state in ({}, {"post_market": {**CURRENT, "deadlines_missed": ["INC-1"]}}):
        found = _post_market_clauses(loaded, **state)
        assert {k: d for k, (d, _b) in found.items()} == {
            "art-72": "covered",  # the complete Art. 72 plan
            "art-73": "gap",  # no measure cites Art. 73
            "9.1": "covered",
        }
        assert "no production source declared" in found["art-72"][1]


def test_a_post_market_rule_is_checked_like_the_others() -> None:
    from sei_assets.core import conformance
    from sei_assets.core.errors import SeiError

    conformance.check_rule({"post_market": {"plan": "monitoring", "decides": "results"}})
    for bad in (
        {"post_market": {}},
        {"post_market": {"plan": "monitoring", "decides": "always"}},
        {"post_market": {"plan": "no_such_rule"}},
    ):
        with pytest.raises(SeiError):
            conformance.check_rule(bad)


def test_the_results_are_read_from_the_signed_periods_and_incidents(repo: Path) -> None:
    """`postmarket.results`: the periods signed in the set, current in their frequency as of a
    day, and the incidents whose report deadline was missed."""
    import datetime as dt

    from sei_assets.core import postmarket

    found = postmarket.results(repo, dt.date(2026, 4, 5))
    assert found["periods"] == len(DAYS) and found["deadlines_missed"] == []
    assert found["currency"] == [
        {"last_period": "2026-04-04", "frequency": "P1D", "post_market_current": True}
    ]
    assert not postmarket.results(repo, dt.date(2026, 4, 6))["currency"][0]["post_market_current"]
    record = incident.open_incident(repo, "x", "widespread", BY, "2026-04-01T09:00:00Z")
    assert postmarket.results(repo, dt.date(2026, 4, 5))["deadlines_missed"] == [record["id"]]
    # a period document that is not in the signed index does not count
    stray = repo / monitoring.period_path("2026-04-05")
    stray.write_bytes((repo / monitoring.period_path("2026-04-04")).read_bytes())
    unsigned = postmarket.results(repo, dt.date(2026, 4, 6))
    assert unsigned["periods"] == len(DAYS)
    assert unsigned["currency"][0]["last_period"] == "2026-04-04"
