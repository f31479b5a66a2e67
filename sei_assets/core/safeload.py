"""Bounded parsing of every YAML and JSON document the engine reads.

One loader for manifests, the systems registry, knowledge catalogues and scenarios. Limits are
checked on the parser's event stream, before anything is composed or expanded:

* document size (``MAX_BYTES``) and nesting depth (``MAX_DEPTH``): libyaml's composer recurses
  in C and crashes the interpreter on deep nesting, so depth is checked first;
* aliases: each one costs the size of the node it repeats, and the expanded document may hold at
  most ``MAX_NODES`` nodes (a "billion laughs" document is refused before it expands);
* numbers: integer and float literals longer than ``MAX_NUMBER_CHARS`` characters are refused
  (Python refuses ints of over 4,300 digits, and base-60 literals grow quadratically), and so are
  non-finite floats (``.nan``, ``.inf``, ``1e999``, JSON ``NaN``/``Infinity``);
* mapping keys must be scalars and appear once.

Every failure is a :class:`ManifestError` naming the file, the key path and the line.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from sei_assets.core.errors import ManifestError
from sei_assets.core.jsonread import nesting_beyond, unique_object

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_NUMBER_CHARS = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NUMERIC_START = frozenset("0123456789+-.")

#: A path into a document: mapping keys and sequence indices.
Loc = tuple[Any, ...]


def key_path(loc: Loc, limit: int = 16) -> str:
    """Render ``('risk', 'risks', 0, 'id')`` as ``risk.risks[0].id`` (deep paths cut short)."""
    out = ""
    for part in loc[:limit]:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out + (f"...({len(loc) - limit} levels more)" if len(loc) > limit else "")


class _Frame:
    __slots__ = ("anchor", "expect_key", "index", "is_map", "key", "keys", "size")

    def __init__(self, is_map: bool, anchor: str | None) -> None:
        self.is_map = is_map
        self.anchor = anchor
        self.expect_key = True
        self.keys: set[str] = set()
        self.key: Any = None
        self.index = -1
        self.size = 1


def read_text(path: Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``, at most ``max_bytes`` long, or a ManifestError."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ManifestError(path, "", f"cannot read the {what}: {exc.strerror or exc}") from None
    return decode(path, raw, what, max_bytes)


def decode(path: Path | str, raw: bytes, what: str, max_bytes: int = MAX_BYTES) -> str:
    """``raw`` as text, refusing documents over ``max_bytes`` and bytes that are not UTF-8."""
    if len(raw) > max_bytes:
        raise ManifestError(
            path, "", f"the {what} is larger than {max_bytes} bytes: expected a smaller document"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError(
            path,
            "",
            f"unreadable text: byte {exc.start} is not UTF-8: expected a {what} in UTF-8",
            line,
        ) from None


def _number_problem(value: str, tag: str | None, implicit: bool) -> str | None:
    """Why a scalar is refused as a number, or None."""
    if tag in (_INT_TAG, _FLOAT_TAG):
        kind = tag
    elif implicit and value[:1] in _NUMERIC_START:
        kind = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    else:
        return None
    if kind not in (_INT_TAG, _FLOAT_TAG):
        return None
    if len(value) > MAX_NUMBER_CHARS:
        return f"a number of {len(value)} characters: expected at most {MAX_NUMBER_CHARS}"
    if kind == _FLOAT_TAG:
        text = value.replace("_", "").lower()
        if "nan" in text or "inf" in text:
            return f"{value!r} is not a finite number: expected a finite number or quoted text"
        if ":" not in text:
            try:
                if not math.isfinite(float(text)):
                    return f"{value!r} overflows: expected a finite number"
            except ValueError:
                return None
    return None


#: Explicit tags whose values are checked while scanning (what they accept, as said to users).
_TYPED_TAGS = {
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null or ~ or nothing",
    "tag:yaml.org,2002:timestamp": "a date such as 2024-01-31 or a date and time",
}
_CHECKER = yaml.constructor.SafeConstructor()


def _tag_problem(value: str, tag: str | None, implicit: bool) -> str | None:
    """Why a scalar with an explicit type tag (``!!bool maybe``, ``!!float ""``) is refused,
    or None: the value must be one the tag's type can be made from."""
    if implicit or tag not in _TYPED_TAGS:
        return None
    construct = _CHECKER.yaml_constructors.get(tag)
    try:
        construct(_CHECKER, yaml.ScalarNode(tag, value))  # type: ignore[misc]  # a typed tag has one
    except Exception:  # noqa: BLE001 - each constructor fails its own way (KeyError, IndexError...)
        return (
            f"{value[:40]!r} is not valid for the tag !!{tag.rsplit(':', 1)[-1]}: expected "
            + (_TYPED_TAGS[tag])
        )
    return None


def _scan(path: Path, text: str, max_depth: int, max_nodes: int) -> None:
    """Walk the event stream once and enforce the limits (nothing is composed yet)."""
    parser = _Loader(text)
    stack: list[_Frame] = []
    anchors: dict[str, int] = {}
    total = 0

    def loc() -> Loc:
        out = []
        for f in stack:
            if f.is_map:
                if f.key is not None:
                    out.append(f.key)
            elif f.index >= 0:
                out.append(f.index)
        return tuple(out)

    def fail(event: Any, expected: str) -> NoReturn:
        line = event.start_mark.line + 1 if event.start_mark else None
        raise ManifestError(path, key_path(loc()), expected, line)

    def enter_slot(event: Any, scalar_key: str | None) -> None:
        """A node takes the next slot of the innermost collection."""
        if not stack:
            return
        parent = stack[-1]
        if parent.is_map:
            if parent.expect_key:
                if scalar_key is None:
                    fail(event, "a mapping key must be plain text, not a list, mapping or alias")
                if scalar_key in parent.keys and scalar_key != "<<":
                    parent.key = scalar_key
                    fail(event, f"the key '{scalar_key}' appears twice: expected unique keys")
                parent.keys.add(scalar_key)
                parent.key = scalar_key
            parent.expect_key = not parent.expect_key
        else:
            parent.index += 1

    def grow(n: int) -> None:
        nonlocal total
        total += n
        for f in stack:
            f.size += n

    try:
        while True:
            event = parser.get_event()
            if event is None:
                break
            if isinstance(event, yaml.ScalarEvent):
                is_key = bool(stack) and stack[-1].is_map and stack[-1].expect_key
                if not is_key:
                    problem = _number_problem(event.value, event.tag, event.implicit[0])
                    problem = problem or _tag_problem(event.value, event.tag, event.implicit[0])
                    if problem:
                        enter_slot(event, None)
                        fail(event, problem)
                enter_slot(event, event.value)
                grow(1)
                if event.anchor:
                    anchors[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                enter_slot(event, None)
                if any(f.anchor == event.anchor for f in stack):
                    fail(
                        event,
                        f"the alias *{event.anchor} repeats a node that contains it: expected "
                        "no recursive aliases",
                    )
                size = anchors.get(event.anchor or "", 1)
                grow(size)
                if total > max_nodes:
                    fail(
                        event,
                        f"aliases expand the document beyond {max_nodes} nodes: expected a "
                        "document without alias bombs",
                    )
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                enter_slot(event, None)
                if len(stack) >= max_depth:
                    fail(event, f"nesting deeper than {max_depth} levels: expected less nesting")
                stack.append(_Frame(isinstance(event, yaml.MappingStartEvent), event.anchor))
                total += 1
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = frame.size
                for f in stack:
                    f.size += frame.size
            if total > max_nodes:
                fail(event, f"more than {max_nodes} nodes: expected a smaller document")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ManifestError(
            path,
            key_path(loc()),
            f"invalid YAML: {exc.problem or exc.context}",
            mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ManifestError(path, key_path(loc()), f"invalid YAML: {exc}") from None
    finally:
        parser.dispose()


def _index_lines(node: yaml.Node) -> dict[Loc, int]:
    """The line of every key path of a composed document (iterative: no recursion)."""
    out: dict[Loc, int] = {}
    todo: list[tuple[yaml.Node, Loc]] = [(node, ())]
    seen: set[int] = set()
    while todo:
        current, loc = todo.pop()
        out.setdefault(loc, current.start_mark.line + 1)
        if id(current) in seen:  # an alias: its lines are where the anchor is
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    out[(*loc, key.value)] = key.start_mark.line + 1
                    todo.append((value, (*loc, key.value)))
        elif isinstance(current, yaml.SequenceNode):
            todo.extend((item, (*loc, i)) for i, item in enumerate(current.value))
    return out


#: Characters YAML does not allow in a document (C0 controls but TAB, LF, CR; DEL; C1 but NEL).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x84\x86-\x9f\ufffe\uffff]")


def check_characters(path: Path, text: str) -> None:
    """Refuse a character YAML does not allow (a NUL byte...), located by line and column."""
    found = _FORBIDDEN.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        raise ManifestError(
            path,
            "",
            f"column {column}: the character U+{ord(found.group()):04X} is not allowed in YAML",
            line,
        )


def parse_yaml(
    path: Path | str,
    text: str,
    what: str = "document",
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> tuple[Any, dict[Loc, int]]:
    """(data, line of each key path) of one YAML document, within the limits."""
    path = Path(path)
    if len(text) > MAX_BYTES:
        raise ManifestError(path, "", f"the {what} is larger than {MAX_BYTES} characters")
    check_characters(path, text)
    _scan(path, text, max_depth, max_nodes)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ManifestError(path, "", f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise ManifestError(path, "", f"invalid YAML: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp 2024-13-45
        raise ManifestError(path, "", f"invalid value: {exc}") from None
    except (KeyError, IndexError, AttributeError, RecursionError) as exc:  # a tag's constructor
        raise ManifestError(path, "", f"invalid value ({type(exc).__name__})") from None
    finally:
        loader.dispose()
    return data, _index_lines(node)


def load_yaml(path: Path | str, what: str = "document", max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse a YAML file within the limits (data only)."""
    return parse_yaml(path, read_text(Path(path), what, max_bytes), what)[0]


# --------------------------------------------------------------------------- JSON


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} digits: expected at most {MAX_NUMBER_CHARS}")
    return int(text)


def _finite_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters: expected at most {MAX_NUMBER_CHARS}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows: expected a finite number")
    return value


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters: expected at most {MAX_NUMBER_CHARS}")
    return float(text)


def parse_json(
    path: Path | str,
    text: str,
    what: str = "document",
    max_depth: int = MAX_DEPTH,
    finite: bool = True,
) -> Any:
    """Parse JSON within the limits: depth, number size, finite numbers, unique keys.

    ``finite=False`` lets NaN and infinities through (the metrics contract fails them closed)."""
    path = Path(path)
    if len(text) > MAX_BYTES:
        raise ManifestError(path, "", f"the {what} is larger than {MAX_BYTES} characters")
    deep = nesting_beyond(text, max_depth)
    if deep:
        line = text.count("\n", 0, deep[1]) + 1
        raise ManifestError(
            path, "", f"nesting deeper than {max_depth} levels: expected a flatter document", line
        )
    try:
        data = json.loads(
            text,
            parse_constant=_refuse_constant if finite else None,
            parse_int=_bounded_int,
            parse_float=_finite_float if finite else _bounded_float,
            object_pairs_hook=unique_object,
        )
    except json.JSONDecodeError as exc:
        raise ManifestError(path, "", f"not valid JSON: {exc.msg}", exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(path, "", f"not a valid {what}: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(path, data)
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _refuse_lone_surrogates(path: Path, data: Any) -> None:
    """Refuse text that cannot be written back as UTF-8 (a lone ``\\ud800`` escape)."""
    todo: list[tuple[Any, Loc]] = [(data, ())]
    while todo:
        node, loc = todo.pop()
        items: Any = ()
        if isinstance(node, dict):
            items = [((*loc, k), k) for k in node] + [((*loc, k), v) for k, v in node.items()]
        elif isinstance(node, list):
            items = [((*loc, i), v) for i, v in enumerate(node)]
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise ManifestError(
                    path, key_path(loc), "a lone UTF-16 surrogate escape: expected valid text"
                ) from None
        todo.extend((v, where) for where, v in items)


def load_json(
    path: Path | str, what: str = "document", max_bytes: int = MAX_BYTES, finite: bool = True
) -> Any:
    """Read and parse a JSON file within the limits."""
    return parse_json(path, read_text(Path(path), what, max_bytes), what, finite=finite)
