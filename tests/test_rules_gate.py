"""The gate rule pinned (issue 32): the three enforcement modes of the reference SDK. ``block``
turns the gate red when its control does not pass, ``warn`` alerts, ``monitor`` only reports; a
missing verdict does not pass, and a mode the engine does not know warns, never blocks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sei_assets.core import gate

pytestmark = pytest.mark.fast

MODES = ["block", "warn", "monitor", "audit", "", None]
VERDICTS = [True, False, None]


def _expected(mode: str | None, passed: bool | None) -> str | None:
    """The rule as the module documents it, written independently."""
    if passed is True:
        return None
    if mode == "block":
        return "block"
    if mode == "monitor":
        return None
    return "warn"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("passed", VERDICTS)
def test_alarm_of_each_mode_and_verdict(mode: str | None, passed: bool | None) -> None:
    assert gate.alarm(mode, passed) == _expected(mode, passed)


def test_only_a_true_verdict_passes() -> None:
    # a truthy value that is not True (a count, a string) is no verdict: the gate fails closed
    assert gate.alarm("block", 1) == "block"  # type: ignore[arg-type]
    assert gate.alarm("block", "yes") == "block"  # type: ignore[arg-type]


results = st.lists(
    st.fixed_dictionaries(
        {
            "control_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
            "enforcement_mode": st.sampled_from(MODES),
            "passed": st.sampled_from(VERDICTS),
        }
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(results)
def test_lists_and_verdict_follow_the_rule(rows: list[dict[str, Any]]) -> None:
    blocking = [
        r["control_id"] for r in rows if _expected(r["enforcement_mode"], r["passed"]) == "block"
    ]
    warning = [
        r["control_id"] for r in rows if _expected(r["enforcement_mode"], r["passed"]) == "warn"
    ]
    assert gate.failing_blocking(rows) == blocking
    assert gate.warnings(rows) == warning
    assert gate.verdict(rows) == ("red" if blocking else "green")


def test_a_result_without_its_id_is_named_with_a_question_mark() -> None:
    rows = [{"enforcement_mode": "block", "passed": False}, {"enforcement_mode": "warn"}]
    assert gate.failing_blocking(rows) == ["?"]
    assert gate.warnings(rows) == ["?"]
    assert gate.verdict(rows) == "red"


def test_no_results_is_green() -> None:
    assert gate.verdict([]) == "green"
    assert gate.failing_blocking(iter([])) == []
