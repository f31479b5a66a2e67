"""Control evaluation (fail closed, power) and the risk matrix."""

from __future__ import annotations

import math

import pytest

from sei_assets.core.controls import Control, evaluate_control, gate
from sei_assets.core.risk import level

GATE = Control(
    control_id="fair",
    metric_key="demographic_parity_diff",
    operator="lt",
    threshold=0.03,
    threshold_text="0.03",
    severity="high",
    enforcement_mode="block",
    evaluation_method="automated",
    lifecycle_phase="validation",
    risk_id="risk.fair",
)
AUDIT = Control(
    control_id="acc",
    metric_key="accuracy_score",
    operator="gte",
    threshold=0.7,
    threshold_text="0.7",
    severity="medium",
    enforcement_mode="warn",
    evaluation_method="automated",
    lifecycle_phase="validation",
    risk_id="risk.perf",
)


@pytest.mark.parametrize(
    "likelihood,impact,expected",
    [
        ("UNLIKELY", "MEDIUM", "LOW"),
        ("UNLIKELY", "HIGH", "MEDIUM"),
        ("UNLIKELY", "CRITICAL", "HIGH"),
        ("POSSIBLE", "MEDIUM", "MEDIUM"),
        ("POSSIBLE", "HIGH", "HIGH"),
        ("POSSIBLE", "CRITICAL", "HIGH"),
        ("LIKELY", "MEDIUM", "HIGH"),
        ("LIKELY", "HIGH", "HIGH"),
        ("LIKELY", "CRITICAL", "CRITICAL"),
        ("ALMOST_CERTAIN", "HIGH", "CRITICAL"),
    ],
)
def test_matrix_cells_seen_in_the_reference(likelihood: str, impact: str, expected: str) -> None:
    assert level(likelihood, impact) == expected


@pytest.mark.parametrize(
    "metrics,reason",
    [
        ({}, "no metric"),
        ({"fair": "0.01"}, "not a number"),
        ({"fair": math.nan}, "not finite"),
        ({"fair": math.inf}, "not finite"),
        ({"fair": {"value": None}}, "not a number"),
        ({"fair": True}, "not a number"),
    ],
)
def test_fails_closed(metrics: dict, reason: str) -> None:
    result = evaluate_control(GATE, metrics)
    assert result.passed is False and reason in result.failure
    assert gate([result]) == "red"


def test_pass_and_power() -> None:
    ok = evaluate_control(
        GATE,
        {
            "fair": {
                "value": 0.01,
                "power": {"n": 200, "ci_low": 0.0, "ci_high": 0.02, "groups": {}},
            }
        },
    )
    assert ok.passed and not ok.underpowered and "groups" not in ok.power
    wide = evaluate_control(
        GATE, {"fair": {"value": 0.01, "power": {"ci_low": 0.0, "ci_high": 0.05}}}
    )
    assert wide.passed and wide.underpowered
    assert gate([ok, wide]) == "green"


def test_warn_never_blocks() -> None:
    failing_audit = evaluate_control(AUDIT, {"acc": 0.5})
    assert not failing_audit.passed
    assert gate([failing_audit]) == "green"
