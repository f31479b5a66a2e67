"""The verdict where people look: run tags, a readable run name, check severities, and the
red gate's failure as a sentence.

Every run that computes a system's evidence or gate is tagged `sei/gate=red|green`,
`sei/version=<treatment commit>`, `sei/run=<system> V2 (a1b2c3d): GREEN` (Dagster runs have no
name of their own: the run list shows this tag beside the job) and, when it fails,
`sei/outcome=red` (the gate is red: a verdict) or `sei/outcome=error` (a step crashed or the
input is bad). The same `sei/gate` and `sei/version` tags are on the materializations of the
evidence, the gate and the release.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg

from sei_assets.core.constraint import SYMBOLS

GATE_TAG, VERSION_TAG, NAME_TAG, OUTCOME_TAG = "sei/gate", "sei/version", "sei/run", "sei/outcome"
SYSTEM_TAG = "sei/system"


def figure(value: Any) -> Any:
    """A number rounded to its meaning: 4 significant digits (ints and text unchanged)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return value
    return float(f"{value:.4g}")


def text(value: Any) -> str:
    """A number as text with 4 significant digits; `—` for none."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def interval(power: Any) -> str | None:
    """A confidence interval as `[0.002134, 0.1251]`, or None without one."""
    if power is None:
        return None
    lo, hi = getattr(power, "ci_low", None), getattr(power, "ci_high", None)
    if not isinstance(lo, int | float) or not isinstance(hi, int | float):
        return None
    return f"[{text(lo)}, {text(hi)}]"


def bound(result: Any) -> str:
    """A control's bound as `< 0.03`."""
    threshold = getattr(result, "threshold", None)
    operator = getattr(result, "operator", None)
    op = SYMBOLS.get(operator, "?") if isinstance(operator, str) else "?"
    return f"{op} {text(threshold)}"


def verdict_tags(verdict: str, version: Any) -> dict[str, str]:
    """The tags of a materialization of evidence, gate or release."""
    return {GATE_TAG: verdict, VERSION_TAG: version.commit}


def run_name(system: str, version: Any, verdict: str) -> str:
    """`loan_scoring V2 (a1b2c3d): GREEN`."""
    return f"{system} {version.label}: {verdict.upper()}"


def tag_run(context: Any, system: str, verdict: str, version: Any) -> None:
    """Tag the running run with this system's verdict. A run over several systems (a sweep)
    is red when any is, and its name lists each system."""
    instance, run_id = context.instance, context.run.run_id
    current = dict(instance.get_run_by_id(run_id).tags)
    name = run_name(system, version, verdict)
    earlier = current.get(NAME_TAG)
    if earlier and not earlier.startswith(f"{system} "):
        name = f"{earlier}; {name}"
    gate = "red" if "red" in (current.get(GATE_TAG), verdict) else "green"
    tags = {GATE_TAG: gate, NAME_TAG: name, VERSION_TAG: version.commit}
    if current.get(VERSION_TAG) not in (None, version.commit) and earlier and name != earlier:
        tags[VERSION_TAG] = "several"
    instance.add_run_tags(run_id, tags)


def tag_outcome(context: Any, outcome: str) -> None:
    """`sei/outcome=red` (a red verdict) or `error` (a crash or bad input); a red verdict
    already recorded stays."""
    try:
        current = context.instance.get_run_by_id(context.run.run_id).tags.get(OUTCOME_TAG)
        if current != "red":
            context.instance.add_run_tags(context.run.run_id, {OUTCOME_TAG: outcome})
    except Exception:  # noqa: BLE001 - a tag is never worth hiding the step's own error
        pass


def red_failure(failures: Iterable[tuple[Any, Any]]) -> dg.Failure:
    """The red gate as the step's failure: which control, its value, its bound and its
    interval, in the message; the same as metadata. ``failures``: (control, result) pairs."""
    parts, metadata = [], {}
    for control, result in failures:
        value = getattr(result, "actual_value", None) if result else None
        span = interval(getattr(result, "power", None)) if result else None
        sentence = f"{control.control_id}: {control.metric_key} = {text(value)}, "
        sentence += f"needs {SYMBOLS[control.operator]} {control.threshold_text}"
        if span:
            sentence += f", interval {span}"
        if result is not None and getattr(result, "failure", None):
            sentence += f" ({result.failure})"
        parts.append(sentence)
        metadata[control.control_id] = sentence
    return dg.Failure(
        description="RED gate, release blocked: " + "; ".join(parts),
        metadata=metadata,
        allow_retries=False,
    )
