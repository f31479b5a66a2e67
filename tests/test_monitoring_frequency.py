"""Monitoring frequencies other than daily: a measure's `frequency` (P1W, P1M) sets its periods,
the asset that evaluates them, its partitions and checks, and the currency of its monitoring.

A small generated system (never run) with a daily and a weekly fairness measure over two weeks
of two-group daily batches; the weekly one is evaluated on every day of its week together."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sei_assets.core import monitoring, postmarket
from sei_assets.core.errors import SeiError
from sei_assets.core.manifest import load_manifest
from sei_assets.core.registry import SystemEntry
from sei_assets.core.signing import load_or_create_key, verify_evidence
from tests.systems import make_system
from tests.test_postmarket import LIVE, _batch

WEEKLY = {
    **LIVE,
    "id": "weekly-parity",
    "post_market": {**LIVE["post_market"], "frequency": "P1W"},
}
START = dt.date(2026, 3, 2)  # a Monday: weeks run Monday to Sunday
#: a fair first week; in the second, group b is approved less on two days
RATES = {START + dt.timedelta(days=i): (0.7, 0.4 if i in (9, 10) else 0.7) for i in range(14)}


def _repo(tmp: Path, extra: dict | None = None) -> Path:
    repo = make_system(tmp / "sys", "sys")
    doc = yaml.safe_load((repo / "sei.yaml").read_text())
    doc["risk"]["risks"][0]["treat"][0]["measures"] += [LIVE, extra or WEEKLY]
    doc["monitoring"] = {
        "source": {"path": "production", "prediction": "approved", "sensitive": ["group"]},
        "start": START.isoformat(),
    }
    (repo / "sei.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (repo / "production").mkdir()
    for day, (a, b) in RATES.items():
        _batch(repo / "production" / f"{day}.csv", a, b, n=50)
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return _repo(tmp_path)


def test_period_boundaries_of_each_frequency() -> None:
    day = dt.date(2026, 3, 12)
    assert postmarket.period_start(day, "P1D", START) == day
    assert postmarket.period_start(day, "P1W", START) == dt.date(2026, 3, 9)
    assert postmarket.period_start(day, "P1M", START) == dt.date(2026, 3, 1)
    assert postmarket.period_end(dt.date(2026, 3, 9), "P1W") == dt.date(2026, 3, 16)
    assert postmarket.period_end(dt.date(2026, 1, 1), "P1M") == dt.date(2026, 2, 1)
    assert postmarket.period_end(dt.date(2026, 12, 1), "P1M") == dt.date(2027, 1, 1)


def test_a_frequency_the_monitoring_cannot_run_is_an_error_naming_the_measure(
    tmp_path: Path,
) -> None:
    quarterly = {**WEEKLY, "post_market": {**WEEKLY["post_market"], "frequency": "P3M"}}
    repo = _repo(tmp_path, quarterly)
    (_risk, measure) = [
        x for x in load_manifest(repo).manifest.measures if x[1].id == "weekly-parity"
    ][0]
    with pytest.raises(SeiError, match="measure weekly-parity: frequency P3M"):
        postmarket.frequency_of(measure)
    # P7D is a week
    seven = {**WEEKLY, "post_market": {**WEEKLY["post_market"], "frequency": "P7D"}}
    (tmp_path / "b").mkdir()
    other = _repo(tmp_path / "b", seven)
    loaded = load_manifest(other)
    assert {
        postmarket.frequency_of(m) for _r, m in loaded.manifest.measures if m.is_monitoring
    } == {
        "P1D",
        "P1W",
    }


def test_weekly_periods_are_whole_weeks_of_daily_batches(repo: Path) -> None:
    mon = load_manifest(repo).manifest.monitoring
    assert [p.day for p in monitoring.periods(repo, mon, "P1W", dt.date(2026, 3, 16))] == [
        "2026-03-02",
        "2026-03-09",
    ]
    # the second week is not over on its Sunday: not a period yet
    before = monitoring.periods(repo, mon, "P1W", dt.date(2026, 3, 15))
    assert [p.day for p in before] == ["2026-03-02"]
    # a day re-delivered changes its week's version, not the other week's
    first = {p.day: p.version for p in monitoring.periods(repo, mon, "P1W", dt.date(2026, 4, 1))}
    _batch(repo / "production" / "2026-03-10.csv", 0.7, 0.6, n=50)
    second = {p.day: p.version for p in monitoring.periods(repo, mon, "P1W", dt.date(2026, 4, 1))}
    assert first["2026-03-02"] == second["2026-03-02"]
    assert first["2026-03-09"] != second["2026-03-09"]


def test_a_weekly_measure_is_evaluated_on_its_week_and_signed(repo: Path) -> None:
    loaded = load_manifest(repo)
    key = load_or_create_key()
    (week,) = monitoring.monitor(repo, loaded, ["2026-03-09"], key, "P1W")
    assert week["frequency"] == "P1W" and week["last_day"] == "2026-03-15"
    assert [r["measure"] for r in week["results"]] == ["weekly-parity"]  # not the daily one
    assert week["source"]["rows"] == 7 * 100 and len(week["source"]["files"]) == 7
    (parity,) = week["results"]
    assert parity["breach"] and parity["value"] == pytest.approx(2 * 0.3 / 7, abs=1e-6)
    assert (repo / ".sei" / "monitoring" / "P1W" / "2026-03-09.json").is_file()
    assert verify_evidence(repo).ok
    # the daily measure has its own periods; the breach ledger reads both
    monitoring.monitor(repo, loaded, ["2026-03-11"], key)
    found = {b.measure: b.periods for b in postmarket.open_breaches(repo)}
    assert found == {"live-parity": ["2026-03-11"], "weekly-parity": ["2026-03-09"]}
    # currency per frequency: the weekly one is current until the week after next begins
    by = {c["frequency"]: c for c in postmarket.currencies(repo, dt.date(2026, 3, 22))}
    assert by["P1W"]["post_market_current"] is True
    assert by["P1D"]["post_market_current"] is False
    later = {c["frequency"]: c for c in postmarket.currencies(repo, dt.date(2026, 3, 23))}
    assert later["P1W"]["post_market_current"] is False
    # the month's summary names each measure with its frequency
    march = json.loads((repo / ".sei/monitoring/summaries/2026-03.json").read_text())
    assert {m["measure"]: m["frequency"] for m in march["measures"]} == {
        "live-parity": "P1D",
        "weekly-parity": "P1W",
    }


def test_each_frequency_has_its_partitioned_asset_checks_and_requests(repo: Path) -> None:
    from sei_assets.defs import build_definitions
    from sei_assets.defs.monitoring import tick

    entry = SystemEntry("sys", repo)
    defs = build_definitions([entry])
    graph = defs.resolve_asset_graph()
    daily, weekly = dg.AssetKey(["sys", "monitoring"]), dg.AssetKey(["sys", "monitoring_weekly"])
    assert isinstance(graph.get(daily).partitions_def, dg.DailyPartitionsDefinition)
    parts = graph.get(weekly).partitions_def
    assert isinstance(parts, dg.WeeklyPartitionsDefinition)
    assert parts.get_partition_keys()[:2] == ["2026-03-02", "2026-03-09"]
    checks = {k.asset_key: k.name for k in graph.asset_check_keys if k.asset_key in (daily, weekly)}
    assert checks == {daily: "live_parity", weekly: "weekly_parity"}
    runs, _cursor = tick([entry], None)
    weekly_runs = [r for r in runs if r.asset_selection == [weekly]]
    assert [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in weekly_runs
    ] == [("2026-03-02", "2026-03-09")]
    assert weekly_runs[0].run_key.startswith("monitoring:sys/monitoring_weekly:")
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance, asset_selection=[weekly], partition_key="2026-03-09"
        )
        assert result.success
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.check_name == "weekly_parity" and evaluation.partition == "2026-03-09"
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    # evaluated: that week is no longer requested, the other still is
    runs, _cursor = tick([entry], None)
    assert [r.partition_key for r in runs if r.asset_selection == [weekly]] == ["2026-03-02"]
