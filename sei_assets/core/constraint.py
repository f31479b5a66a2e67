"""The constraint grammar of a measure: operators, their symbols, and the comparison.

One place for the rule that decides whether a metric value satisfies a threshold; the manifest
parses constraints into these operator names, controls compare with `holds`, and every front
renders operators with `SYMBOLS`.
"""

from __future__ import annotations

import operator as _op
from collections.abc import Callable

#: Every spelling the manifest accepts, mapped onto the canonical operator name.
OPERATORS = {
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "==": "eq",
    "=": "eq",
    "lt": "lt",
    "le": "le",
    "lte": "le",
    "gt": "gt",
    "ge": "ge",
    "gte": "ge",
    "eq": "eq",
}
#: The canonical operator's symbol, as tables and descriptions show it.
SYMBOLS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=="}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": _op.lt,
    "le": _op.le,
    "gt": _op.gt,
    "ge": _op.ge,
    "eq": _op.eq,
}


def holds(operator: str, value: float, threshold: float) -> bool:
    """Whether ``value`` satisfies ``<operator> <threshold>`` (canonical operator name)."""
    return _COMPARE[operator](value, threshold)
