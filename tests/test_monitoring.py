"""Post-market monitoring (Art. 72): the production source, the measures of one period, the
signed period documents, the breach ledger, and the Dagster partitions, checks and sensor.

The repository under test is the loan system's manifest and data with a few days of its
generated production batches (the days around the injected shift and degradation): no training,
no DVC."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from sei_assets.core import monitoring, postmarket
from sei_assets.core.errors import ManifestError, SeiError
from sei_assets.core.manifest import load_manifest
from sei_assets.core.registry import SystemEntry
from sei_assets.core.signing import verify_evidence

LOAN = Path(__file__).resolve().parent.parent / "resources" / "loan"
SHIFT, DEGRADE = "2026-03-02", "2026-04-06"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen", LOAN / "monitoring" / "generate_batches.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _days(*numbers: int) -> list[str]:
    import datetime as dt

    return [(GEN.START + dt.timedelta(days=n)).isoformat() for n in numbers]


def write_batches(repo: Path, *days: int, outcome_lag: int = 0) -> None:
    """Write the loan generator's batches of ``days`` (0-based) into ``repo/production``."""
    reference = GEN.pd.read_csv(GEN.REFERENCE)
    out = repo / "production"
    out.mkdir(exist_ok=True)
    for day in days:
        frame = GEN.batch(reference, day, outcome_known=outcome_lag == 0)
        frame.to_csv(out / f"{_days(day)[0]}.csv", index=False, lineterminator="\n")


def loan_repo(tmp: Path) -> Path:
    """The loan manifest and its data in a fresh git repository (no pipeline run)."""
    repo = tmp / "loan"
    (repo / "data").mkdir(parents=True)
    shutil.copy(LOAN / "sei.yaml", repo / "sei.yaml")
    for name in ("german_credit.csv", "german_credit.croissant.json"):
        shutil.copy(LOAN / "data" / name, repo / "data" / name)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "declare"], check=True)
    return repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = loan_repo(tmp_path_factory.mktemp("mon"))
    # the day before each injected fault, and its first day
    write_batches(repo, 58, 59, 60, 93, 94, 95)
    return repo


# ── the generator and the manifest ──────────────────────────────────────────────────────────


def test_generator_is_deterministic_and_has_the_declared_columns(tmp_path: Path) -> None:
    a = GEN.generate(tmp_path / "a", days=2, outcome_lag=0)
    b = GEN.generate(tmp_path / "b", days=2, outcome_lag=0)
    assert [p.name for p in a] == ["2026-01-01.csv", "2026-01-02.csv"]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    header = a[0].read_text().splitlines()[0].split(",")
    for column in ("prediction", "outcome", "score", "reviewed", "gender", "credit_amount"):
        assert column in header
    # the last `outcome_lag` days have no outcome yet
    assert GEN.pd.read_csv(a[1])["outcome"].notna().all()
    late = GEN.generate(tmp_path / "c", days=2, outcome_lag=1)
    assert GEN.pd.read_csv(late[1])["outcome"].isna().all()
    assert GEN.pd.read_csv(late[0])["outcome"].notna().all()


def test_the_manifest_reads_monitoring_source(repo: Path) -> None:
    mon = load_manifest(repo).manifest.monitoring
    assert mon.source.path == "production" and mon.source.sensitive == ["gender"]
    assert mon.start == "2026-01-01" and mon.reference == "data/german_credit.csv"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monitoring:\n  soruce: {path: p}\n  start: 2026-01-01\n", "did you mean 'source'"),
        (
            "monitoring:\n  source: {path: p, duckdb: d.db}\n  start: 2026-01-01\n",
            "exactly one of path",
        ),
        (
            "monitoring:\n  source: {duckdb: d.db, table: t}\n  start: 2026-01-01\n",
            "needs table and timestamp",
        ),
        ("monitoring:\n  source: {path: p}\n  start: soon\n", "expected a date"),
        (
            'monitoring:\n  source: {duckdb: d.db, table: t, timestamp: "a\\"b"}\n'
            "  start: 2026-01-01\n",
            "expected a column name",
        ),
    ],
)
def test_bad_monitoring_keys_are_located_errors(tmp_path: Path, text: str, expected: str) -> None:
    base = (LOAN / "sei.yaml").read_text().split("\n# ── 7.")[0]
    (tmp_path / "sei.yaml").write_text(base + "\n" + text)
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)
    assert expected in str(err.value) and "monitoring" in str(err.value)


def test_an_unknown_monitoring_key_is_kept_as_an_extension(tmp_path: Path) -> None:
    base = (LOAN / "sei.yaml").read_text()
    (tmp_path / "sei.yaml").write_text(
        base.replace("  start: 2026", "  x-owner: ops\n  start: 2026")
    )
    loaded = load_manifest(tmp_path)
    assert [x.key_path for x in loaded.extensions] == ["monitoring.x-owner"]


def test_a_source_outside_the_repository_is_refused(tmp_path: Path) -> None:
    repo = loan_repo(tmp_path)
    text = (repo / "sei.yaml").read_text().replace("path: production", "path: ../elsewhere")
    (repo / "sei.yaml").write_text(text)
    with pytest.raises(SeiError, match="leaves the repository"):
        monitoring.periods(repo, load_manifest(repo).manifest.monitoring)


# ── the measures of one period ──────────────────────────────────────────────────────────────


def _results(doc: dict) -> dict[str, dict]:
    return {r["measure"]: r for r in doc["results"]}


def test_shift_and_degradation_are_found_on_their_days_and_not_before(repo: Path) -> None:
    loaded = load_manifest(repo)
    reference = monitoring.reference_document(repo, loaded)
    found = {}
    for day in _days(58, 59, 60, 93, 94, 95):
        doc = monitoring.evaluate_period(repo, loaded, day, reference)
        found[day] = sorted(m for m, r in _results(doc).items() if r["breach"])
    assert found == {
        "2026-02-28": [],
        "2026-03-01": [],
        SHIFT: ["input-drift-psi"],
        "2026-04-04": ["input-drift-psi"],
        "2026-04-05": ["input-drift-psi"],
        DEGRADE: ["fairness-drift", "input-drift-psi"],
    }


def test_period_values_are_fairlearns_and_sklearns(repo: Path) -> None:
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )
    from sklearn.metrics import accuracy_score, recall_score, roc_auc_score

    frame, _ = monitoring.load_batch(repo, load_manifest(repo).manifest.monitoring, DEGRADE)
    d = monitoring.decisions(frame, load_manifest(repo).manifest.monitoring.source, "gender")
    y, p, g = frame["outcome"].to_numpy(int), frame["prediction"].to_numpy(), frame["gender"]
    expected = {
        "demographic_parity_diff": demographic_parity_difference(y, p, sensitive_features=g),
        "demographic_parity_ratio": demographic_parity_ratio(y, p, sensitive_features=g),
        "equalized_odds_diff": equalized_odds_difference(y, p, sensitive_features=g),
        "accuracy_score": accuracy_score(y, p),
        "recall_score": recall_score(y, p),
        "roc_auc_score": roc_auc_score(y, frame["score"]),
    }
    for metric, value in expected.items():
        assert monitoring._point(metric, d) == pytest.approx(value, abs=1e-12), metric
    ci = monitoring.interval("demographic_parity_diff", d)
    assert ci["low"] <= expected["demographic_parity_diff"] <= ci["high"]


def test_psi_bins_are_the_references_and_the_psi_is_textbook(repo: Path) -> None:
    loaded = load_manifest(repo)
    reference = monitoring.reference_document(repo, loaded)
    bins = reference["bins"]
    assert bins["credit_amount"]["kind"] == "numeric" and len(bins["credit_amount"]["edges"]) == 9
    assert bins["checking_status"]["categories"] == ["A11", "A12", "A13", "A14"]
    assert "prediction" not in bins and "gender" not in bins and "outcome" not in bins
    frame, _ = monitoring.load_batch(repo, loaded.manifest.monitoring, SHIFT)
    spec = bins["checking_status"]
    actual = frame["checking_status"].value_counts(normalize=True)
    e = np.maximum(np.array(spec["shares"]), monitoring.EPSILON)
    a = np.maximum(np.array([actual.get(c, 0.0) for c in spec["categories"]]), monitoring.EPSILON)
    assert monitoring.psi(spec, frame["checking_status"]) == pytest.approx(
        float(np.sum((a - e) * np.log(a / e))), abs=1e-3
    )


def test_a_duckdb_table_gives_the_folders_results(repo: Path, tmp_path: Path) -> None:
    import duckdb

    other = loan_repo(tmp_path)
    db = other / "production.duckdb"
    with duckdb.connect(str(db)) as con:
        for day in _days(59, 60):
            frame = GEN.pd.read_csv(repo / "production" / f"{day}.csv")
            frame["decided_at"] = GEN.pd.Timestamp(day) + GEN.pd.Timedelta(hours=9)
            con.register("batch", frame)
            if day == _days(59)[0]:
                con.execute("CREATE TABLE decisions AS SELECT * FROM batch")
            else:
                con.execute("INSERT INTO decisions SELECT * FROM batch")
            con.unregister("batch")
    text = (
        (other / "sei.yaml")
        .read_text()
        .replace(
            "path: production",
            "duckdb: production.duckdb\n    table: decisions\n    timestamp: decided_at",
        )
    )
    (other / "sei.yaml").write_text(text)
    loaded = load_manifest(other)
    assert [p.day for p in monitoring.periods(other, loaded.manifest.monitoring)] == _days(59, 60)
    ours = monitoring.evaluate_period(
        other, loaded, SHIFT, monitoring.reference_document(other, loaded)
    )
    folder = load_manifest(repo)
    theirs = monitoring.evaluate_period(
        repo, folder, SHIFT, monitoring.reference_document(repo, folder)
    )
    assert [(r["measure"], r["value"], r["breach"]) for r in ours["results"]] == [
        (r["measure"], r["value"], r["breach"]) for r in theirs["results"]
    ]


# ── signed documents and the breach ledger ──────────────────────────────────────────────────


#: The loan system's controls that re-measure its two triggered monitoring measures: the
#: parity control of fairness-drift's risk, the blocking control of input-drift-psi's.
REMEASURING = [
    {"control_id": "unfair-credit-exclusion", "metric_key": "demographic_parity_diff",
     "risk_id": "risk.unfair-credit-exclusion", "enforcement_mode": "block", "passed": True},
    {"control_id": "prediction-stability", "metric_key": "prediction_stability",
     "risk_id": "risk.model-robustness", "enforcement_mode": "block", "passed": True},
]  # fmt: skip


def _write_bundle(repo: Path, gate: str, when: str, controls: list | None = None) -> None:
    (repo / ".sei").mkdir(exist_ok=True)
    doc = {"gate": gate, "generated_at": when, "control_results": controls or REMEASURING}
    (repo / ".sei" / "bundle.json").write_text(json.dumps(doc))


def test_periods_are_signed_and_breaches_reopen_until_treated(tmp_path: Path) -> None:
    from sei_assets.core.signing import load_or_create_key

    repo = loan_repo(tmp_path)
    write_batches(repo, 94, 95)
    loaded = load_manifest(repo)
    docs = monitoring.monitor(repo, loaded, _days(94, 95), load_or_create_key())
    checked = verify_evidence(repo)
    assert checked.ok, checked
    signed = {Path(f.path).name for f in checked.files if f.ok}
    assert {f"{d}.json" for d in _days(94, 95)} | {"reference.json"} <= signed
    # a period document altered after signing no longer verifies
    path = repo / monitoring.period_path(DEGRADE)
    original = path.read_bytes()
    path.write_bytes(original.replace(b'"breach": true', b'"breach": false', 1))
    assert not verify_evidence(repo).ok
    path.write_bytes(original)
    assert (
        docs[1]["source"]["version"]
        == monitoring.periods(repo, loaded.manifest.monitoring)[1].version
    )
    found = postmarket.open_breaches(repo)
    assert [(b.measure, b.risk, b.periods) for b in found] == [
        ("fairness-drift", "risk.unfair-credit-exclusion", [DEGRADE]),
        ("input-drift-psi", "risk.model-robustness", _days(94, 95)),
    ]
    # green evidence from before the breach does not treat it; newer red evidence neither
    _write_bundle(repo, "green", "2020-01-01T00:00:00Z")
    assert len(postmarket.open_breaches(repo)) == 2
    _write_bundle(repo, "red", "2999-01-01T00:00:00Z")
    assert len(postmarket.open_breaches(repo)) == 2
    _write_bundle(repo, "green", "2999-01-01T00:00:00Z")
    assert postmarket.open_breaches(repo) == []


def test_a_warn_or_monitor_breach_does_not_act(tmp_path: Path) -> None:
    repo = loan_repo(tmp_path)
    text = (repo / "sei.yaml").read_text()
    # the PSI measure without its plan's trigger: a breach warns and acts no further
    text = text.replace(
        '                trigger: "any input\'s population stability index reaches 0.2"\n', ""
    )
    (repo / "sei.yaml").write_text(text)
    write_batches(repo, 60)
    loaded = load_manifest(repo)
    from sei_assets.core.signing import load_or_create_key

    doc = monitoring.monitor(repo, loaded, _days(60), load_or_create_key())[0]
    psi = _results(doc)["input-drift-psi"]
    assert psi["breach"] and psi["severity"] == "warn"
    assert postmarket.open_breaches(repo) == []


# ── Dagster: partitions, partitioned checks, the sensor ─────────────────────────────────────


def _defs(entry: SystemEntry) -> dg.Definitions:
    from sei_assets.defs import build_definitions

    return build_definitions([entry])


def _evaluations(instance: dg.DagsterInstance, check: str) -> dict[str, tuple[bool, str]]:
    key = dg.AssetCheckKey(dg.AssetKey(["loan", "monitoring"]), check)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    out = {}
    for r in records:
        evaluation = r.event.dagster_event.event_specific_data
        out.setdefault(r.partition, (evaluation.passed, evaluation.severity.value))
    return out


def test_partitions_checks_and_the_sensor(tmp_path: Path) -> None:
    """A backfill of a range is one run: each day materialized and each measure's check
    evaluated on its partition (a trigger breach ERROR, not blocking the run); an idle tick
    requests nothing; a new batch requests exactly its partition; a batch re-delivered with its
    outcomes re-evaluates its day; each open breach is raised once."""
    from sei_assets.defs.monitoring import tick

    repo = loan_repo(tmp_path)
    write_batches(repo, 59, 60, 61)
    entry = SystemEntry("loan", repo)
    defs = _defs(entry)
    graph = defs.resolve_asset_graph()
    mon = dg.AssetKey(["loan", "monitoring"])
    assert graph.get(mon).partitions_def == dg.DailyPartitionsDefinition("2026-01-01")
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == mon}
    assert checks == {"fairness_drift", "input_drift_psi", "human_review_of_denials"}
    sensor = defs.resolve_sensor_def("sei_monitoring")
    with dg.instance_for_test() as instance:

        def run_ticks(cursor: str | None) -> tuple[list[dg.RunRequest], str]:
            result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
            return list(result.run_requests or []), result.cursor

        runs, cursor = run_ticks(None)
        assert [
            (r.partition_key, r.tags.get("dagster/asset_partition_range_start")) for r in runs
        ] == [(None, "2026-03-01")]
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[mon],
            tags=runs[0].tags,
            raise_on_error=False,
        )
        assert result.success  # a trigger breach is an ERROR check that blocks nothing
        assert instance.get_materialized_partitions(mon) == set(_days(59, 60, 61))
        psi = _evaluations(instance, "input_drift_psi")
        assert psi == {
            "2026-03-01": (True, "ERROR"),
            SHIFT: (False, "ERROR"),
            "2026-03-03": (False, "ERROR"),
        }
        assert all(passed for passed, _s in _evaluations(instance, "fairness_drift").values())
        # the breach is raised once: this tick raises it, the next ones do not
        runs, cursor = run_ticks(cursor)
        assert [r.run_key for r in runs] == [f"breach:loan:input-drift-psi:{SHIFT}"]
        assert runs[0].asset_selection == [dg.AssetKey(["loan", "risk_cycle"])]
        for _ in range(3):
            runs, cursor = run_ticks(cursor)
            assert runs == []  # idle: nothing new, nothing launched
        # one new batch: exactly its partition
        write_batches(repo, 95)
        runs, cursor = run_ticks(cursor)
        assert [(r.partition_key, r.asset_selection) for r in runs] == [(DEGRADE, [mon])]
        # the same day re-delivered before its run: one more request, for the new bytes
        write_batches(repo, 95, outcome_lag=30)
        runs2, cursor = run_ticks(cursor)
        assert [r.partition_key for r in runs2] == [DEGRADE]
        assert runs2[0].run_key != runs[0].run_key
    # the pure tick, as the sensor uses it, keeps what it requested in its cursor
    assert json.loads(tick([entry], None)[1])["requested"]


def test_incident_deadlines_are_flagged_once_as_warn_then_error(tmp_path: Path) -> None:
    import datetime as dt

    from sei_assets.core import incident

    repo = loan_repo(tmp_path)
    entry = SystemEntry("loan", repo)
    defs = _defs(entry)
    sensor = defs.resolve_sensor_def("sei_monitoring")
    key = dg.AssetKey(["loan", "incidents"])
    aware = dt.datetime.now(dt.UTC) - dt.timedelta(days=14)
    doc = incident.open_incident(
        repo, "bulk denials of women", "serious", "Ops <ops@example.com>", aware.isoformat()
    )
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
        assert [r.run_key for r in result.run_requests] == [f"incident:loan:{doc['id']}:due"]
        again = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert not again.run_requests
        job = defs.resolve_implicit_global_asset_job_def()
        run = job.execute_in_process(instance=instance, asset_selection=[key])
        (evaluation,) = run.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        # the deadline passes: flagged once more, now as an ERROR
        death = incident.open_incident(
            repo, "x", "death", "Ops <ops@example.com>", (aware - dt.timedelta(days=1)).isoformat()
        )
        later = sensor(dg.build_sensor_context(instance=instance, cursor=again.cursor))
        assert [r.run_key for r in later.run_requests] == [f"incident:loan:{death['id']}:past"]
        run = job.execute_in_process(instance=instance, asset_selection=[key])
        (evaluation,) = run.get_asset_check_evaluations()
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("2026-01-05.csv", "gender,score\nmale,0.5\n", "no column 'prediction'"),
        ("2026-01-05.csv", "gender,prediction\nmale,yes\n", "every decision must be 0 or 1"),
        ("2026-01-05.parquet", "\x00\x01garbage", "2026-01-05.parquet: not a readable batch"),
    ],
)
def test_a_bad_batch_is_an_error_naming_it(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    repo = loan_repo(tmp_path)
    (repo / "production").mkdir()
    (repo / "production" / name).write_text(content)
    loaded = load_manifest(repo)
    with pytest.raises(SeiError, match=expected):
        monitoring.evaluate_period(repo, loaded, "2026-01-05", None)
