"""The gate rule, in one place: red when a blocking control failed (light: no imports).

What a control that does not pass does depends on its enforcement mode (the reference SDK's
three modes): ``block`` makes the gate red, ``warn`` raises an alert and lets the release go
on, ``monitor`` is evaluated and reported in the evidence only: it never blocks and never warns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

Alarm = Literal["block", "warn"]


def alarm(enforcement_mode: str | None, passed: bool | None) -> Alarm | None:
    """What one control result raises: ``block``, ``warn``, or None (it passed, or it is only
    monitored). A mode this engine does not know warns: it never blocks the gate."""
    if passed is True or enforcement_mode == "monitor":
        return None
    return "block" if enforcement_mode == "block" else "warn"


def failing_blocking(control_results: Iterable[dict[str, Any]]) -> list[str]:
    """Ids of the blocking controls that did not pass (a missing verdict does not pass)."""
    return [
        r.get("control_id", "?")
        for r in control_results
        if alarm(r.get("enforcement_mode"), r.get("passed")) == "block"
    ]


def warnings(control_results: Iterable[dict[str, Any]]) -> list[str]:
    """Ids of the warning controls that did not pass (monitored ones are never among them)."""
    return [
        r.get("control_id", "?")
        for r in control_results
        if alarm(r.get("enforcement_mode"), r.get("passed")) == "warn"
    ]


def verdict(control_results: Iterable[dict[str, Any]]) -> str:
    """`red` when a blocking control did not pass, else `green`."""
    return "red" if failing_blocking(control_results) else "green"
