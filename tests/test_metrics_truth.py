"""Metrics that cannot lie (issue 18, item 2): impossible values fail closed, duplicate keys are
an error, bundles are strict JSON, and supplied (`--no-repro`) metrics are marked, tied to
dvc.lock, shown by `status` and refused by a release unless accepted explicitly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core.controls import Control, evaluate_control
from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import dump
from sei_assets.core.knowledge import MetricDomains, metric_domain, validate_file
from sei_assets.core.reproducers.base import ReproducerError, read_metrics
from tests.reference import replay


def _control(metric: str, operator: str, threshold: float) -> Control:
    return Control(
        control_id="m",
        metric_key=metric,
        operator=operator,
        threshold=threshold,
        threshold_text=f"{threshold:g}",
        severity="high",
        enforcement_mode="block",
        evaluation_method="automated",
        lifecycle_phase="validation",
        risk_id="r",
    )


@pytest.mark.parametrize(
    ("metric", "operator", "threshold", "value", "domain"),
    [
        ("demographic_parity_diff", "lt", 0.03, -0.5, "difference in [0, 1]"),
        ("missing_value_rate", "lt", 0.05, -1.0, "rate in [0, 1]"),
        ("prediction_stability", "gte", 0.9, 7.0, "rate in [0, 1]"),
        ("min_group_count", "gte", 30, 30.5, "count >= 0 (integer)"),
    ],
)
def test_a_value_outside_its_domain_fails_closed(
    metric: str, operator: str, threshold: float, value: float, domain: str
) -> None:
    result = evaluate_control(_control(metric, operator, threshold), {"m": value})
    assert result.passed is False
    assert result.failure == f"metric {metric} = {value:g} is outside its domain ({domain})"
    inside = evaluate_control(
        _control(metric, operator, threshold),
        {"m": 0.01 if operator == "lt" else max(threshold, 0.95)},
    )
    assert inside.passed is True and inside.failure is None


def test_every_shipped_metric_kind_has_a_domain() -> None:
    for metric in (
        "demographic_parity_diff",
        "demographic_parity_ratio",
        "equalized_odds_diff",
        "accuracy_score",
        "roc_auc_score",
        "missing_value_rate",
        "population_stability_index",
        "expected_misclassification_cost",
        "oversight_human_review_declared",
    ):
        assert metric_domain(metric) is not None, metric
    assert metric_domain("population_stability_index").max is None  # >= 0, no upper bound


def test_the_domain_catalogue_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "metric_domains.yaml"
    bad.write_text("domains:\n  - {pattern: '*_rate', kind: rate, minimum: 0}\n")
    with pytest.raises(SeiError, match=r"metric_domains.yaml: domains.0.minimum"):
        validate_file(bad, MetricDomains)


def test_duplicate_keys_in_metrics_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text('{"fairness": 0.5, "fairness": 0.01}')
    with pytest.raises(ReproducerError, match="the key 'fairness' appears twice"):
        read_metrics(path, "dvc")
    path.write_text('{"fairness": {"value": 0.01, "value": 0.5}}')
    with pytest.raises(ReproducerError, match="the key 'value' appears twice"):
        read_metrics(path, "dvc")


def test_a_huge_integer_is_refused_without_a_crash(tmp_path: Path) -> None:
    """A 420-digit number is refused by the bounded reader, naming the file (no OverflowError);
    the run then stops with exit 2 (see test_exit_codes), nothing is evaluated on it."""
    path = tmp_path / "metrics.json"
    path.write_text('{"m": ' + "9" * 420 + "}")
    with pytest.raises(ReproducerError, match=r"metrics\.json: .*420 digits"):
        read_metrics(path, "file")


def test_bundles_are_strict_json() -> None:
    raw = {"value": 0.01, "power": {"n": 10, "ci_low": float("nan"), "ci_high": float("inf")}}
    result = evaluate_control(_control("demographic_parity_diff", "lt", 0.03), {"m": raw})
    entry = result.to_json()
    text = dump({"control_results": [entry]}).decode()

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-JSON constant {constant} in the bundle")

    doc = json.loads(text, parse_constant=refuse)
    power = doc["control_results"][0]["power"]
    assert "ci_low" not in power and "ci_high" not in power
    assert set(power["not_finite"]) == {"ci_low", "ci_high"}
    with pytest.raises(SeiError, match="strict JSON"):
        dump({"x": float("nan")})


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    repo = tmp_path / "q"
    replay("quickstart", repo, upto=8)
    return repo


def test_supplied_metrics_are_marked_tied_to_dvc_lock_and_not_releasable(
    quickstart: Path, sei
) -> None:
    from sei_assets.core import engine
    from sei_assets.core.release import promote

    outcome = engine.run(quickstart, repro=False)
    pipeline = outcome.bundle.to_json()["pipeline"]
    assert pipeline["metrics_source"] == "supplied"
    assert pipeline["metrics_lock"]["lock"] == "dvc.lock"
    assert pipeline["metrics_lock"]["matches"] is True  # the file dvc repro wrote
    # a hand-written all-pass metrics file: green, but marked and not what dvc.lock records
    metrics = quickstart / "metrics.json"
    metrics.write_text(json.dumps({"fairness-parity": 0.0, "accuracy-floor": 0.99}))
    outcome = engine.run(quickstart, repro=False)
    assert outcome.gate == "green"
    pipeline = outcome.bundle.to_json()["pipeline"]
    assert pipeline["metrics_source"] == "supplied"
    assert pipeline["metrics_lock"]["matches"] is False
    signed = json.loads((quickstart / ".sei" / "bundle.json").read_text())
    assert signed["pipeline"]["metrics_source"] == "supplied"  # in the signed statement
    code, status = sei.json("status", "--repo", str(quickstart))
    assert status["metrics_source"] == "supplied"
    assert "metrics: supplied" in sei("status", "--repo", str(quickstart)).stdout
    with pytest.raises(SeiError, match="supplied metrics"):
        promote(quickstart)
    record = promote(quickstart, accept_supplied=True)
    assert record["metrics_source"] == "supplied (accepted explicitly)"


def test_reproduced_metrics_must_match_the_tools_lock(quickstart: Path) -> None:
    from sei_assets.core.engine import metrics_provenance
    from sei_assets.core.reproducers.dvc import DvcReproducer

    spec = {"tool": "dvc", "metrics": "metrics.json"}
    ok = metrics_provenance(DvcReproducer(), quickstart, spec, reproduced=True)
    assert ok["metrics_source"] == "reproduced" and ok["metrics_lock"]["matches"]
    (quickstart / "metrics.json").write_text('{"fairness-parity": 0.0}')
    with pytest.raises(SeiError, match="differs from dvc.lock's record"):
        metrics_provenance(DvcReproducer(), quickstart, spec, reproduced=True)
