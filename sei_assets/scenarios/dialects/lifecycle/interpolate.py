"""Interpolation and capture: one expression language, jq (the `jq` package).

Each ``${...}`` is a jq program run over the scope ``{vars, outputs, env, params}``. A string
that is one reference and nothing else takes the result's type; references embedded in text are
stringified (strings as they are, null as empty, anything else as compact JSON). `read:`,
`capture:` and `expect:` are jq programs too, over the payload or the Observation.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

NAMESPACES = ("vars", "outputs", "env", "params")


class ExpressionError(ValueError):
    """A jq program that does not compile or fails on its input."""


def references(text: str) -> list[tuple[int, int, str]]:
    """The ``${...}`` spans of ``text``: (start, end, program), braces and strings balanced."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while True:
        start = text.find("${", i)
        if start < 0:
            return out
        depth, j, quoted = 1, start + 2, False
        while j < len(text) and depth:
            c = text[j]
            if quoted:
                if c == "\\":
                    j += 1
                elif c == '"':
                    quoted = False
            elif c == '"':
                quoted = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            j += 1
        if depth:
            raise ExpressionError(f"unclosed '${{' at offset {start} in {text!r}")
        out.append((start, j, text[start + 2 : j - 1].strip()))
        i = j


@functools.lru_cache(maxsize=512)
def _program(expr: str) -> Any:
    import jq

    try:
        return jq.compile(expr)
    except ValueError as exc:
        raise ExpressionError(f"jq program {expr!r} does not compile: {exc}") from None


def check_syntax(expr: str) -> str | None:
    """None when ``expr`` compiles, else the reason."""
    try:
        _program(expr)
    except ExpressionError as exc:
        return str(exc)
    return None


def evaluate(expr: str, data: Any) -> Any:
    """The first output of the jq program ``expr`` on ``data`` (null when it yields nothing)."""
    try:
        results = _program(expr).input_value(_plain(data)).all()
    except ValueError as exc:
        raise ExpressionError(f"jq program {expr!r} failed: {exc}") from None
    return results[0] if results else None


def _plain(data: Any) -> Any:
    """JSON-able data (tuples, paths and other objects as their JSON form)."""
    return json.loads(json.dumps(data, default=str))


def stringify(value: Any) -> str:
    """An embedded reference's text: strings as they are, null empty, the rest compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render(value: Any, scope: dict[str, Any]) -> Any:
    """``value`` with every ``${...}`` evaluated over ``scope``, recursively."""
    if isinstance(value, str):
        spans = references(value)
        if not spans:
            return value
        if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(value):
            return evaluate(spans[0][2], scope)
        parts, last = [], 0
        for start, end, expr in spans:
            parts.append(value[last:start])
            parts.append(stringify(evaluate(expr, scope)))
            last = end
        parts.append(value[last:])
        return "".join(parts)
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_HEAD = re.compile(r"(?<![\w\]\)\.\$\"])\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*)|\[\"([^\"]+)\"\])?")
_SCOPE_BEFORE = re.compile(r"(^|[-+*/=<>!,]|(?<![\w?])\(|\b(?:and|or|not|then|else|if))\s*$")


def scope_names(expr: str) -> list[tuple[str, str | None]]:
    """The (namespace, name) pairs a reference program reads from the scope, e.g.
    `.outputs.rsp.value` gives ("outputs", "rsp"). Only paths that start a (sub)expression
    read the scope: after a pipe or inside `map(...)` a path reads the piped value."""
    text = _STRING.sub('""', expr)
    out = []
    for m in _HEAD.finditer(text):
        if _SCOPE_BEFORE.search(text[: m.start()]):
            out.append((m.group(1), m.group(2) or m.group(3)))
    return out


def walk_strings(value: Any) -> list[str]:
    """Every string inside ``value``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in walk_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in walk_strings(v)]
    return []
