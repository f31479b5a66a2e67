"""Reading JSON evidence fast, with the standard library's answers.

Both readers here give exactly what :func:`json.loads` gives (None where it fails): faster
parsers are tried first and whatever they refuse, ``json`` decides. The property tests in
``tests/test_jsonread.py`` hold them to that on generated and mutated documents.
"""

from __future__ import annotations

import json
import re
from typing import Any

_decoders: Any = None


class DuplicateKey(ValueError):
    """An object that names one key twice: JSON parsers keep the last, so two readers of the
    same evidence could see different values. Every strict reader refuses it."""


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of the strict readers: the object, or DuplicateKey."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(f"the key {key!r} appears twice: expected unique keys")
        out[key] = value
    return out


_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def nesting_beyond(text: str, limit: int) -> tuple[int, int] | None:
    """(depth, offset) where brackets outside strings first nest deeper than ``limit``, or
    None. Checked before parsing, so a deep document never reaches the recursive parser."""
    depth = 0
    for m in _NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return depth, m.start()
        elif c in "]}":
            depth -= 1
    return None


def _msgspec() -> Any:
    """msgspec's whole-document decoder, one that keeps only a top-level ``system_name``
    (skipping the rest without building it), and its error type; imported on first use, so
    `sei status` never loads it."""
    global _decoders
    if _decoders is None:
        import msgspec

        class Named(msgspec.Struct):
            system_name: object = None

        _decoders = (msgspec.json.decode, msgspec.json.Decoder(Named).decode, msgspec.DecodeError)
    return _decoders


def _checked_utf8(raw: bytes) -> bytes:
    """``raw``, after a strict UTF-8 check: msgspec does not check the strings it skips."""
    if not raw.isascii():
        raw.decode("utf-8")
    return raw


def loads(raw: bytes) -> Any:
    """``json.loads(raw)``, or None when it fails (nested too deeply included).

    msgspec reads first (orjson's speed, and unlike orjson it keeps integers beyond 64 bits
    exact, as json does); what it refuses (NaN, a byte-order mark, lone surrogates, numbers
    that overflow a double) json decides."""
    decode, _, refused = _msgspec()
    try:
        return decode(_checked_utf8(raw))
    except (UnicodeDecodeError, refused, RecursionError):
        pass
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def system_name(raw: bytes) -> str | None:
    """The system a bundle names: its top-level ``system_name`` string as ``json.loads`` reads
    it; None when there is none or the bytes are not a JSON object.

    msgspec validates the whole document while building only that one field (a third of
    orjson's time on a 40 KiB bundle). It does not check the UTF-8 of the strings it skips, so
    that is checked first; anything it refuses (NaN, a byte-order mark, lone surrogates) is
    decided by :func:`loads`."""
    _, named, refused = _msgspec()
    try:
        name = named(_checked_utf8(raw)).system_name
    except (UnicodeDecodeError, refused, RecursionError):
        doc = loads(raw)
        name = doc.get("system_name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None
