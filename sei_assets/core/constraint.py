"""The constraint grammar of a measure: operators, their symbols, and the comparison.

One place for the rule that decides whether a metric value satisfies a threshold; the manifest
parses constraints into these operator names, controls compare with `holds`, and every front
renders operators with `SYMBOLS`.
"""

from __future__ import annotations

import operator as _op
from collections.abc import Callable

#: Every spelling the manifest accepts, mapped onto the canonical operator name. The canonical
#: names are the ones the reference engine writes into the compiled plan and the evidence
#: (``lt``, ``lte``, ``gt``, ``gte``, ``eq``, ``ne``), which its SDK reads back.
OPERATORS = {
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
    "==": "eq",
    "=": "eq",
    "!=": "ne",
    "lt": "lt",
    "le": "lte",
    "lte": "lte",
    "gt": "gt",
    "ge": "gte",
    "gte": "gte",
    "eq": "eq",
    "ne": "ne",
}
#: The canonical operator's symbol, as tables and descriptions show it.
SYMBOLS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "==", "ne": "!="}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": _op.lt,
    "lte": _op.le,
    "gt": _op.gt,
    "gte": _op.ge,
    "eq": _op.eq,
    "ne": _op.ne,
}


def holds(operator: str, value: float, threshold: float) -> bool:
    """Whether ``value`` satisfies ``<operator> <threshold>`` (canonical operator name)."""
    return _COMPARE[operator](value, threshold)
