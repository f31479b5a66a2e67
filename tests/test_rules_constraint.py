"""The constraint grammar pinned (issue 32): every spelling the manifest accepts means the
comparison it says, at the boundary too, and every front renders it with a symbol that reads
back as the same operator. Pure functions only: each test runs in milliseconds."""

from __future__ import annotations

import operator
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sei_assets.core import constraint

pytestmark = pytest.mark.fast

#: What each spelling means, written from the grammar's documentation (EXPECTED and the
#: manifest's operators lt, le/lte, gt, ge/gte, eq, ne), not from the module's tables.
MEANING: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "lt": operator.lt,
    "<=": operator.le,
    "le": operator.le,
    "lte": operator.le,
    ">": operator.gt,
    "gt": operator.gt,
    ">=": operator.ge,
    "ge": operator.ge,
    "gte": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "eq": operator.eq,
    "!=": operator.ne,
    "ne": operator.ne,
}
CANONICAL = ("lt", "lte", "gt", "gte", "eq", "ne")
WORDS = {s for s in MEANING if s.isalpha()}

GRID = (-1.0, 0.0, 0.5, 1.0, 2.0)


@pytest.mark.parametrize("spelling", sorted(MEANING))
def test_every_spelling_means_its_comparison(spelling: str) -> None:
    """Below, at and above the threshold (the boundary decides ``<`` against ``<=``)."""
    for threshold in (0.0, 1.0):
        op, text = constraint.split(f"{spelling} {threshold}")
        assert op in CANONICAL
        assert float(text) == threshold
        for value in GRID:
            expected = MEANING[spelling](value, threshold)
            assert constraint.holds(op, value, threshold) is expected, (value, threshold)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(MEANING)),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
)
def test_any_threshold_reads_back_and_compares(
    spelling: str, value: float, threshold: float
) -> None:
    op, text = constraint.split(f"{spelling} {threshold!r}")
    assert float(text) == threshold
    assert constraint.holds(op, value, threshold) is MEANING[spelling](value, threshold)
    assert constraint.holds(op, threshold, threshold) is MEANING[spelling](threshold, threshold)


def test_each_canonical_operator_is_its_own_name() -> None:
    for name in CANONICAL:
        assert constraint.split(f"{name} 2") == (name, "2")
    assert set(constraint.OPERATORS.values()) == set(CANONICAL)
    assert set(constraint.OPERATORS) == set(MEANING)


def test_symbols_read_back_as_the_same_operator() -> None:
    assert set(constraint.SYMBOLS) == set(CANONICAL)
    for name, symbol in constraint.SYMBOLS.items():
        assert not symbol.isalpha(), symbol
        assert constraint.split(f"{symbol} 0.25") == (name, "0.25")
        assert constraint.split(f"{symbol}0.25") == (name, "0.25")
    assert len(set(constraint.SYMBOLS.values())) == len(CANONICAL)
    assert constraint.SYMBOLS["eq"] == "=="  # the symbol tables show, never the bare '='


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<0.03", ("lt", "0.03")),
        ("  >=\t1.0 ", ("gte", "1.0")),
        ("lt 0.03", ("lt", "0.03")),
        ("ne\t-2", ("ne", "-2")),
        ("= .5", ("eq", ".5")),
        ("<= 1e-3", ("lte", "1e-3")),
        ("> +4.", ("gt", "+4.")),
    ],
)
def test_accepted_forms(text: str, expected: tuple[str, str]) -> None:
    assert constraint.split(text) == expected


@pytest.mark.parametrize(
    ("text", "says", "never"),
    [
        ("~ 0.5", "unknown operator '~'", "not a finite number"),
        ("=< 0.5", "unknown operator '=<'", "not a finite number"),
        ("< 0,5", "'0,5' is not a finite number", "unknown operator"),
        ("< ٣", "is not a finite number", "unknown operator"),
        ("lt 1_000", "'1_000' is not a finite number", "unknown operator"),
        ("lt0.03", "got 'lt0.03'", "not a finite number"),
        ("0.03", "got '0.03'", "unknown operator"),
        ("", "got ''", "unknown operator"),
        ("< 0.5 extra", "got '< 0.5 extra'", "unknown operator"),
    ],
)
def test_refused_forms_say_what_is_wrong(text: str, says: str, never: str) -> None:
    with pytest.raises(ValueError) as exc:
        constraint.split(text)
    message = str(exc.value)
    assert says in message
    assert never not in message
    assert message.startswith(constraint.EXPECTED) or "unknown operator" in message


def test_a_non_text_constraint_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="got '5'"):
        constraint.split(5)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(WORDS)), st.floats(0, 10, allow_nan=False))
def test_a_word_needs_a_space(word: str, threshold: float) -> None:
    with pytest.raises(ValueError):
        constraint.split(f"{word}{threshold!r}")
