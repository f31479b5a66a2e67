"""A post-market breach is treated only by newer green evidence that re-measures the breached
measure: a control of its metric under its risk, all passing; else, when the risk has no control
of that metric, the risk's blocking controls, all passing (the rule: core/postmarket.py).

The loan system's two triggered measures breach on 2026-04-05/06: fairness-drift
(demographic parity, risk.unfair-credit-exclusion, re-measured by the parity controls) and
input-drift-psi (risk.model-robustness: no control measures the PSI, its blocking control
prediction-stability stands in). The release is tested on a small generated system whose
evidence is real and signed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sei_assets.core import monitoring, postmarket
from sei_assets.core.errors import SeiError
from sei_assets.core.manifest import load_manifest
from sei_assets.core.release import promote
from sei_assets.core.signing import load_or_create_key
from tests.test_monitoring import REMEASURING, _days, _write_bundle, loan_repo, write_batches
from tests.test_postmarket import system  # noqa: F401 - the fixture: a breach on real evidence

LATER = "2999-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = loan_repo(tmp_path_factory.mktemp("treat"))
    write_batches(repo, 94, 95)
    monitoring.monitor(repo, load_manifest(repo), _days(94, 95), load_or_create_key())
    return repo


def _open(repo: Path) -> dict[str, str]:
    return {b.measure: b.open_because for b in postmarket.open_breaches(repo)}


def _control(cid: str, metric: str, risk: str, mode: str, passed: bool) -> dict:
    return {
        "control_id": cid,
        "metric_key": metric,
        "risk_id": risk,
        "enforcement_mode": mode,
        "passed": passed,
    }


PARITY = _control(
    "unfair-credit-exclusion",
    "demographic_parity_diff",
    "risk.unfair-credit-exclusion",
    "block",
    True,
)
STABILITY = _control(
    "prediction-stability", "prediction_stability", "risk.model-robustness", "block", True
)


def test_evidence_that_re_measures_both_treats_both(repo: Path) -> None:
    _write_bundle(repo, "green", LATER, REMEASURING)
    assert _open(repo) == {}


def test_newer_green_evidence_that_does_not_re_measure_leaves_the_breach_open(repo: Path) -> None:
    """Green and newer, but no control measures demographic parity for the fairness risk, which
    has no blocking control either: only acceptance can close fairness-drift. The PSI breach is
    treated by its risk's blocking control."""
    accuracy = _control("accuracy-floor", "accuracy_score", "risk.financial-harm", "block", True)
    _write_bundle(repo, "green", LATER, [accuracy, STABILITY])
    assert _open(repo) == {
        "fairness-drift": "the green evidence after it does not re-measure it: no control of "
        "risk.unfair-credit-exclusion measures demographic_parity_diff and the risk has no "
        "blocking control: only management's acceptance closes it"
    }
    # a blocking control of the risk that is not the breached metric does not stand in for it
    # while a control of the metric exists: the metric's control decides
    ratio = _control(
        "disparate-impact-ratio",
        "demographic_parity_ratio",
        "risk.unfair-credit-exclusion",
        "block",
        True,
    )
    failing_audit = {**PARITY, "enforcement_mode": "warn", "passed": False}
    _write_bundle(repo, "green", LATER, [ratio, failing_audit, STABILITY])
    assert _open(repo) == {
        "fairness-drift": "the green evidence after it does not re-measure it: its "
        "re-measurement fails (unfair-credit-exclusion)"
    }


def test_the_risks_blocking_controls_stand_in_only_when_no_control_has_the_metric(
    repo: Path,
) -> None:
    audit_only = {**STABILITY, "enforcement_mode": "warn"}
    _write_bundle(repo, "green", LATER, [PARITY, audit_only])
    assert _open(repo) == {
        "input-drift-psi": "the green evidence after it does not re-measure it: no control of "
        "risk.model-robustness measures population_stability_index and the risk has no "
        "blocking control: only management's acceptance closes it"
    }
    failing = {**STABILITY, "passed": False}
    _write_bundle(repo, "green", LATER, [PARITY, failing])
    assert _open(repo) == {
        "input-drift-psi": "the green evidence after it does not re-measure it: the risk's "
        "blocking controls fail (prediction-stability)"
    }


def test_older_or_red_evidence_treats_nothing_whatever_it_measures(repo: Path) -> None:
    _write_bundle(repo, "green", "2020-01-01T00:00:00Z", REMEASURING)
    assert set(_open(repo).values()) == {"no green evidence generated after it"}
    _write_bundle(repo, "red", LATER, REMEASURING)
    assert len(_open(repo)) == 2


# ── the release, on real signed evidence ────────────────────────────────────────────────────


def test_the_release_stays_refused_until_the_evidence_re_measures_the_measure(
    system: Path,  # noqa: F811 - the fixture imported above
    sei,
) -> None:
    """The fairness bound made an audit: a run with the parity gap still past it is green (no
    blocking control fails) and newer than the breach, but re-measures the gap as failing: the
    release is refused naming the measure and the failing control. Reduced again: released
    with no breach to accept."""
    key = load_or_create_key()
    doc = yaml.safe_load((system / "sei.yaml").read_text())
    gap = doc["risk"]["risks"][0]["treat"][0]["measures"][0]
    assert gap["id"] == "parity-gap"
    gap["enforcement"] = "audit"
    (system / "sei.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (system / "params.yaml").write_text("bias: 1.0\n")
    assert sei("run", "--repo", str(system)).exit_code == 0  # green: nothing blocks
    with pytest.raises(SeiError) as refused:
        promote(system, key, accept_supplied=True)
    message = str(refused.value)
    assert "post-market breach open (live-parity (risk.unfair): past < 0.05" in message
    assert "does not re-measure it: its re-measurement fails (parity-gap)" in message
    code, st = sei.json("status", "--repo", str(system))
    assert code == 1 and "re-measurement fails" in st["open_breaches"][0]["open_because"]
    # the gap treated: the same audit control now passes, newer than the breach: released
    (system / "params.yaml").write_text("bias: 0.1\n")
    assert sei("run", "--repo", str(system)).exit_code == 0
    record = promote(system, key, accept_supplied=True)
    assert "breaches_accepted" not in record and record["gate"] == "green"
