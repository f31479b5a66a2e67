"""The fast JSON readers give the standard library's answers (core/jsonread.py): on generated
documents, on documents written member by member (duplicate and escaped keys), and on their
byte-level mutations (invalid UTF-8, surrogates, NaN, truncation, stray escapes)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sei_assets.core import jsonread


def reference_name(raw: bytes) -> str | None:
    """The rule, written with json alone: the top-level ``system_name`` string."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    name = doc.get("system_name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None


def reference_doc(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["system_name", "x", "é", "a b"]), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Ways of spelling a key in the raw text; the escaped ones decode to "system_name".
keys = st.sampled_from(
    ['"system_name"', '"system\\u005fname"', '"\\u0073ystem_name"', '"system_Name"', '"x"', '"é"']
)
members = st.tuples(keys, values.map(lambda v: json.dumps(v, ensure_ascii=False)))
#: Bytes that break documents in the ways parsers disagree on.
noise = st.sampled_from(
    [
        b"\xff",
        b"\xed\xa0\x80",
        b"\\",
        b"\\u",
        b"\\ud800",
        b'"',
        b",",
        b"}",
        b"]",
        b"NaN",
        b"\x00",
        b"\x1f",
        b"\xef\xbb\xbf",
        b" ",
        b"01",
        b"1e",
        b"[" * 40,
    ]
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A document written member by member, in one of several layouts, maybe mutated."""
    if draw(st.booleans()):
        doc = draw(values)
        text = json.dumps(
            doc,
            ensure_ascii=draw(st.booleans()),
            indent=draw(st.sampled_from([None, 2])),
        )
    else:
        pairs = draw(st.lists(members, max_size=5))
        sep = draw(st.sampled_from([",", ", ", ",\n  "]))
        text = "{" + sep.join(f"{k}:{v}" for k, v in pairs) + "}"
    raw = text.encode("utf-8")
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 2))
        raw = raw[:at] + draw(noise) + raw[at + cut :]
    return raw


@settings(max_examples=600, deadline=None)
@given(documents())
@example(b'{"system_name":"a","x":"\xff"}')  # msgspec alone would name "a"
@example(b'{"system_name":"a","system_name":"b"}')
@example(b'{"system_name":"a","system\\u005fname":"b"}')
@example(b'{"system_name":"a","x":NaN}')
@example(b'\xef\xbb\xbf{"system_name":"a"}')
@example(b'{"system_name":"\\ud800"}')
@example(b"-9223372036854775809")  # orjson would round it to a float
@example(b'{"x":1e400}')  # json reads infinity; msgspec refuses
@example(b'{"system_name":"a","x":' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_the_fast_readers_agree_with_json(raw: bytes) -> None:
    assert jsonread.system_name(raw) == reference_name(raw)
    doc, expected = jsonread.loads(raw), reference_doc(raw)
    assert json.dumps(doc, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_a_bundle_names_its_system_from_the_top_level_only() -> None:
    assert jsonread.system_name(b'{"gate": "green", "system_name": "loan"}') == "loan"
    assert jsonread.system_name(b'{"payload": {"system_name": "loan"}}') is None
    assert jsonread.system_name(b'{"system_name": 7}') is None
    assert jsonread.system_name(b'["system_name"]') is None
    assert jsonread.system_name(b"not json") is None
