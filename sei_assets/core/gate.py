"""The gate rule, in one place: red when a blocking control failed (light: no imports)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def failing_blocking(control_results: Iterable[dict[str, Any]]) -> list[str]:
    """Ids of the blocking controls that did not pass (a missing verdict does not pass)."""
    return [
        r.get("control_id", "?")
        for r in control_results
        if r.get("enforcement_mode") == "block" and r.get("passed") is not True
    ]


def verdict(control_results: Iterable[dict[str, Any]]) -> str:
    """`red` when a blocking control did not pass, else `green`."""
    return "red" if failing_blocking(control_results) else "green"
