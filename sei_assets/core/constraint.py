"""The constraint grammar of a measure: operators, their symbols, and the comparison.

One place for the rule that decides whether a metric value satisfies a threshold; the manifest
parses constraints into these operator names, controls compare with `holds`, and every front
renders operators with `SYMBOLS`.
"""

from __future__ import annotations

import operator as _op
import re
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


#: A threshold: an ASCII decimal number (no digit group separators, no other scripts' digits).
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
#: ``<op> <number>``: a symbol may touch the number (``<0.03``), a word needs a space after it
#: (``lt 0.03``; ``lt0.03`` is not a constraint). Spaces and tabs only, ASCII only.
_GRAMMAR = re.compile(
    r"[ \t]*(?:(<=|>=|==|!=|<|>|=)[ \t]*|(lte|lt|le|gte|gt|ge|eq|ne)[ \t]+)(" + NUMBER + r")[ \t]*",
    re.ASCII,
)
_LOOSE = re.compile(r"\s*([^\s\d.+-]+)\s*(\S+)\s*")
EXPECTED = (
    "a constraint '<op> <number>' with op one of <, <=, >, >=, ==, != "
    "(or lt, lte, gt, gte, eq, ne, followed by a space) and an ASCII number"
)


def split(text: str) -> tuple[str, str]:
    """(canonical operator, threshold text) of a constraint such as ``"< 0.03"``; ValueError
    saying what was expected."""
    text = str(text)
    found = _GRAMMAR.fullmatch(text)
    if found:
        symbol, word, number = found.groups()
        return OPERATORS[symbol or word], number
    loose = _LOOSE.fullmatch(text)
    if loose:
        op, number = loose.groups()
        if op not in OPERATORS:
            raise ValueError(
                f"unknown operator {op!r}: expected one of <, <=, >, >=, ==, !=, "
                "lt, lte, gt, gte, eq, ne"
            )
        if not re.fullmatch(NUMBER, number, re.ASCII):
            raise ValueError(
                f"{EXPECTED}; threshold {number!r} is not a finite number in ASCII digits "
                "(no digit separators)"
            )
    raise ValueError(f"{EXPECTED}, got {text!r}")
