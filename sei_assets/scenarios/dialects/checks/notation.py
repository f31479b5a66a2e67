"""The notation of check scenarios: ``{{ param | filter }}`` and ``@var``.

``{{ param }}`` and ``{{ param | f | g }}`` are bound at task bind time from the scenario's
parameters; ``@var`` is a runtime variable of the current system (``@system`` / ``@device`` is
the system's name, ``@system.platform`` / ``@device.platform`` its pipeline tool), with dot
notation into mappings (``@c.clause``). Both are replaced in one pass, so a value is never
scanned again. Custom filters are expressions over ``value`` evaluated by simpleeval, never by
``eval``, and unsafe ones are refused when they are provisioned.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from sei_assets.core.errors import SeiError

TOKEN = re.compile(
    r"\{\{\s*(?P<expr>.*?)\s*\}\}|(?<![A-Za-z0-9@])@(?P<var>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)"
)
RESERVED = ("system", "device")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NotationError(SeiError):
    """A template that cannot be bound: unknown parameter, unset variable, failing filter."""


def _mask_to_prefix(value: Any) -> int:
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
    except ValueError:
        raise NotationError(f"to_prefix: {value!r} is not a dotted network mask") from None


def _prefix_to_mask(value: Any) -> str:
    try:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{int(value)}").netmask)
    except ValueError:
        raise NotationError(f"to_dotted_mask: {value!r} is not a prefix length 0-32") from None


def _slug(value: Any) -> str:
    from sei_assets.core.conformance import standard_slug

    return standard_slug(str(value))


BUILT_IN: dict[str, Callable[[Any], Any]] = {
    "to_prefix": _mask_to_prefix,
    "to_dotted_mask": _prefix_to_mask,
    "escape_regex": lambda v: re.escape(str(v)),
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
    "strip": lambda v: str(v).strip(),
    # this domain's: a standard id as its evidence file name, a value as JSON text
    "to_slug": _slug,
    "to_json": lambda v: json.dumps(v, ensure_ascii=False),
}

#: The only functions a custom filter may call.
SAFE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sorted": sorted,
    "bool": bool,
}


def unsafe_reason(expression: str) -> str | None:
    """Why a custom filter expression is refused, or None when it is acceptable.

    Refused: anything that is not one expression, private or dunder names and attributes, and
    calls of names other than the safe functions (methods of values, such as
    ``value.split``, are allowed; simpleeval still guards every evaluation).
    """
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        return f"not a Python expression: {exc.msg}"
    bound = {"value"}
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Lambda):
            return "lambda is not allowed"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"access to the private attribute {node.attr!r} is not allowed"
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                return f"the private name {node.id!r} is not allowed"
            if node.id not in bound and node.id not in SAFE_FUNCTIONS:
                return (
                    f"unknown name {node.id!r}: a filter sees only `value` and the functions "
                    f"{', '.join(SAFE_FUNCTIONS)}"
                )
    return None


@dataclass
class Filters:
    """The built-in filters and the custom ones provisioned from configuration."""

    custom: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted({*BUILT_IN, *self.custom})

    def known(self, name: str) -> bool:
        return name in BUILT_IN or name in self.custom

    def apply(self, name: str, value: Any) -> Any:
        if name in BUILT_IN:
            return BUILT_IN[name](value)
        if name in self.custom:
            evaluator = EvalWithCompoundTypes(names={"value": value}, functions=SAFE_FUNCTIONS)
            try:
                return evaluator.eval(self.custom[name])
            except InvalidExpression as exc:
                raise NotationError(f"filter {name}: refused: {exc}") from None
            except Exception as exc:  # the expression failed on this value
                raise NotationError(f"filter {name} failed on {value!r}: {exc}") from None
        raise NotationError(f"unknown filter {name!r}: expected one of {', '.join(self.names())}")


def load_filters(path: Path | None) -> tuple[Filters, list[tuple[str, int | None, str]]]:
    """Custom filters from a ``custom_filters:`` file (name, type ``python_expression``,
    expression); with the problems found, each as (field, line, message)."""
    from sei_assets.scenarios.dialects.checks.model import line_of, read_yaml

    filters = Filters()
    problems: list[tuple[str, int | None, str]] = []
    if path is None or not Path(path).is_file():
        return filters, problems
    doc = read_yaml(Path(path)) or {}
    entries = doc.get("custom_filters") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return filters, [("custom_filters", line_of(doc), "expected a list of filters")]
    for i, entry in enumerate(entries):
        where = f"custom_filters[{i}]"
        if not isinstance(entry, dict):
            problems.append((where, None, "expected a mapping with name, type, expression"))
            continue
        name, kind, expression = entry.get("name"), entry.get("type"), entry.get("expression")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append((f"{where}.name", line_of(entry), "expected a filter name"))
            continue
        if name in BUILT_IN:
            problems.append((f"{where}.name", line_of(entry), f"{name} is a built-in filter"))
        if kind != "python_expression":
            problems.append(
                (f"{where}.type", line_of(entry), f"expected python_expression, got {kind!r}")
            )
            continue
        if not isinstance(expression, str):
            problems.append((f"{where}.expression", line_of(entry), "expected a string"))
            continue
        reason = unsafe_reason(expression)
        if reason:
            problems.append((f"{where}.expression", line_of(entry), f"refused: {reason}"))
            continue
        filters.custom[name] = expression
    return filters, problems


def parse_expression(expr: str) -> tuple[str, list[str]]:
    """``param | f | g`` as (``param``, [``f``, ``g``])."""
    parts = [p.strip() for p in expr.split("|")]
    return parts[0], parts[1:]


def references(text: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The ``{{ }}`` expressions (parameter, filters) and the ``@var`` names in ``text``."""
    params, variables = [], []
    for m in TOKEN.finditer(text):
        if m.group("expr") is not None:
            params.append(parse_expression(m.group("expr")))
        else:
            variables.append(m.group("var"))
    return params, variables


@dataclass
class Scope:
    """What a task sees: the bound parameters, the runtime variables, the current system."""

    system: str
    platform: str
    params: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    filters: Filters = field(default_factory=Filters)

    def child(self, params: dict[str, Any]) -> Scope:
        """An isolated scope for a sub-scenario: the same system and platform, only ``params``."""
        return Scope(self.system, self.platform, params, {}, self.filters)

    def lookup(self, path: str) -> tuple[bool, Any, str]:
        """Resolve ``a.b.c`` as far as it goes: (found, value, the unresolved rest)."""
        head, *rest = path.split(".")
        if head in RESERVED:
            if rest and rest[0] == "platform":
                return True, self.platform, ".".join(rest[1:])
            return True, self.system, ".".join(rest)
        if head not in self.variables:
            return False, None, path
        value = self.variables[head]
        while rest and isinstance(value, dict) and rest[0] in value:
            value = value[rest.pop(0)]
        return True, value, ".".join(rest)

    def param(self, expr: str) -> Any:
        """The value of ``param | filters``."""
        name, filters = parse_expression(expr)
        if name not in self.params:
            raise NotationError(f"{{{{ {expr} }}}}: no parameter {name!r} is bound")
        value = self.params[name]
        for f in filters:
            value = self.filters.apply(f, value)
        return value

    def render(self, text: str, strict: bool = True, escape_vars: bool = False) -> str:
        """``text`` with every token replaced; an unset ``@var`` raises when ``strict``, else
        stays as written (for messages). With ``escape_vars`` (a regex), a runtime variable,
        collected from the system and so untrusted, is inserted as a literal."""

        def sub(m: re.Match) -> str:
            if m.group("expr") is not None:
                return _text(self.param(m.group("expr")))
            found, value, rest = self.lookup(m.group("var"))
            if not found:
                if strict:
                    raise NotationError(f"@{m.group('var').split('.')[0]} is not set")
                return m.group(0)
            inserted = _text(value) + (f".{rest}" if rest else "")
            return re.escape(inserted) if escape_vars else inserted

        return TOKEN.sub(sub, text)

    def value(self, raw: Any) -> Any:
        """A parameter value passed on: a lone token keeps its type (a list stays a list)."""
        if isinstance(raw, str):
            m = TOKEN.fullmatch(raw.strip())
            if m and m.group("expr") is not None:
                return self.param(m.group("expr"))
            if m:
                found, value, rest = self.lookup(m.group("var"))
                if not found:
                    raise NotationError(f"@{m.group('var').split('.')[0]} is not set")
                if not rest:
                    return value
            return self.render(raw)
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items()}
        return raw

    def condition(self, expr: str) -> bool:
        """A ``when`` guard: ``@var``, ``not @var``, ``@a and @b``, ``@x == 'y'``... An unset
        variable is false; the expression is evaluated by simpleeval."""
        names: dict[str, Any] = {}

        def sub(m: re.Match) -> str:
            key = f"v{len(names)}_"
            if m.group("expr") is not None:
                names[key] = self.param(m.group("expr"))
            else:
                found, value, rest = self.lookup(m.group("var"))
                names[key] = value if found and not rest else None
            return key

        try:
            result = EvalWithCompoundTypes(names=names, functions={}).eval(TOKEN.sub(sub, expr))
        except (InvalidExpression, SyntaxError) as exc:
            raise NotationError(f"when {expr!r}: {exc}") from None
        return bool(result)


def placeholder(text: str) -> str:
    """``text`` with every token replaced by a plain word: to compile a regex at load time."""
    return TOKEN.sub("x", text)


def condition_syntax(expr: str) -> str | None:
    """Why a ``when`` guard cannot be parsed, or None."""
    try:
        ast.parse(TOKEN.sub("v_", expr), mode="eval")
    except SyntaxError as exc:
        return f"not an expression: {exc.msg}"
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
