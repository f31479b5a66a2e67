"""Tag expressions of `--include-tags` / `--exclude-tags`: `slow and not (network or gpu)`.

Grammar: ``expr := term ('or' term)*``, ``term := factor ('and' factor)*``,
``factor := 'not' factor | '(' expr ')' | TAG``; a TAG matches ``[A-Za-z0-9_./-]+`` (rule 14
keeps every scenario tag usable here). `and`, `or` and `not` are words, not tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sei_assets.core.errors import SeiError

TAG = re.compile(r"[A-Za-z0-9_./-]+")
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9_./-]+)")
_WORDS = ("and", "or", "not")

Predicate = Callable[[set[str]], bool]


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda tags: a(tags) or b(tags)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda tags: a(tags) and b(tags)


class TagExpressionError(SeiError):
    """A tag expression that does not parse."""


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if not m:
            raise TagExpressionError(
                f"tag expression {text!r}: unexpected {text[i:].strip()[0]!r} at offset {i}; "
                "expected a tag ([A-Za-z0-9_./-]+), 'and', 'or', 'not' or parentheses"
            )
        out.append(m.group(1))
        i = m.end()
    return out


def parse(text: str) -> Predicate:
    """A predicate over a scenario's tag set."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise TagExpressionError(f"tag expression {text!r} ends too early")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Predicate:
        left = term()
        while peek() == "or":
            take()
            left = _either(left, term())
        return left

    def term() -> Predicate:
        left = factor()
        while peek() == "and":
            take()
            left = _both(left, factor())
        return left

    def factor() -> Predicate:
        token = take()
        if token == "not":
            inner = factor()
            return lambda tags: not inner(tags)
        if token == "(":
            inner = expr()
            if take() != ")":
                raise TagExpressionError(f"tag expression {text!r}: expected ')'")
            return inner
        if token in _WORDS or token == ")":
            raise TagExpressionError(f"tag expression {text!r}: expected a tag, got {token!r}")
        return lambda tags: token in tags

    if not tokens:
        raise TagExpressionError("empty tag expression")
    predicate = expr()
    if pos != len(tokens):
        raise TagExpressionError(f"tag expression {text!r}: unexpected {tokens[pos]!r}")
    return predicate


def selects(tags: list[str], include: str | None, exclude: str | None) -> bool:
    """Whether a scenario with ``tags`` is selected by the two expressions."""
    have = set(tags)
    if include and not parse(include)(have):
        return False
    return not (exclude and parse(exclude)(have))
