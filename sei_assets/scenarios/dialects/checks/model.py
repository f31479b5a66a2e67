"""Check scenarios (seed 003) as data: the YAML model and its loader.

A file holds one versioned scenario under a top-level ``scenario:`` key: ``name``, ``version``,
``description``, ``platforms``, typed ``parameters``, ``export`` and ordered ``tasks``. Each task
``collect``s an output, ``parse``s one with regex checks, or invokes another ``scenario``. The
loader checks the shape of one file; the registry (`registry.py`) checks what spans files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.errors import SeiError
from sei_assets.scenarios.dialects.checks.collect import Call, call_problem

ACTIONS = ("collect", "parse", "scenario")
TYPES = ("string", "integer", "number", "boolean", "list", "object", "ip_address", "network_mask")
FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
EXPECTED = ("match", "no_match")
DEFAULT_TIMEOUT = 60.0
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: runtime names a scenario may not assign: the current system
RESERVED = ("system", "device")
_VERSION = re.compile(r"^\d+(\.\d+)*([-+][0-9A-Za-z.-]+)?$")
_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::(latest|[0-9][0-9A-Za-z.+-]*))?$")

_SCENARIO_KEYS = {"name", "version", "description", "platforms", "parameters", "export", "tasks"}
_PARAM_KEYS = {"type", "description", "required", "default"}
_TASK_KEYS = {
    "collect": {"id", "action", "when", "on_fail", "collector", "store", "timeout", "exit_codes"}
    | {"command"},  # refused with its own message: a check names a collector
    "parse": {"id", "action", "when", "on_fail", "input", "checks"},
    "scenario": {"id", "action", "when", "on_fail", "scenario", "params", "export"},
}
_COMMON_KEYS = {"for_each", "points", "description"}
_CHECK_KEYS = {
    "id",
    "description",
    "regex",
    "flags",
    "expected_result",
    "set",
    "capture",
    "on_fail",
    "when",
}
_FOR_EACH_KEYS = {"var", "in", "stop_on_fail", "mode"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a check file: where (file, line, task id, field) and what."""

    file: Path
    where: str
    message: str
    line: int | None = None
    task: str | None = None

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else str(self.file)
        task = f" task {self.task}:" if self.task else ""
        return f"{place}:{task} {self.where}: {self.message}"


class CheckError(SeiError):
    """One or more problems in the check library; every one names its file and task."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Map(dict):
    """A YAML mapping that remembers its line."""

    line: int | None = None


class _LineLoader(yaml.SafeLoader):
    """The safe YAML loader, with line numbers on mappings."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Any:
    data = _Map()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node, deep=True))


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def line_of(node: Any) -> int | None:
    """The line a mapping starts on, when the loader recorded it."""
    return getattr(node, "line", None)


def read_yaml(path: Path) -> Any:
    """A YAML document with line numbers, read through the bounded loader first (size,
    UTF-8, forbidden characters, depth, aliases, duplicate keys): a clear error naming the
    file and line for a file that is not acceptable YAML, never a traceback."""
    from sei_assets.core import safeload
    from sei_assets.core.errors import ManifestError

    try:
        text = safeload.read_text(path, "check file")
        safeload.parse_yaml(path, text, "check file")
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506
    except ManifestError as exc:
        raise CheckError(
            [Problem(path, exc.key_path or "<file>", exc.expected, exc.line)]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise CheckError(
            [
                Problem(
                    path, "<file>", f"not valid YAML: {getattr(exc, 'problem', None) or exc}", line
                )
            ]
        ) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CheckError([Problem(path, "<file>", f"invalid value: {exc}")]) from None


@dataclass(frozen=True)
class Parameter:
    """A typed input of a scenario, bound by the caller."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    description: str = ""


@dataclass(frozen=True)
class Check:
    """One regex check of a parse task."""

    id: str
    regex: dict[str, str]
    flags: int = 0
    flag_text: str = ""
    expected: str = "match"
    description: str = ""
    set: str | None = None
    capture: dict[str, int | str] = field(default_factory=dict)
    on_fail: str | None = None
    when: str | None = None
    line: int | None = None

    def pattern_for(self, platform: str) -> str:
        """The regex of ``platform``: its override, else the default."""
        return self.regex.get(platform, self.regex.get("default", ""))


@dataclass(frozen=True)
class ForEach:
    """Task-level iteration: ``var`` takes each element of ``source`` in turn."""

    var: str
    source: Any
    stop_on_fail: bool = True
    mode: str = "sequential"


@dataclass(frozen=True)
class ScenarioRef:
    """``name:version`` of a sub-scenario; ``version`` None means the latest."""

    name: str
    version: str | None

    def __str__(self) -> str:
        return f"{self.name}:{self.version or 'latest'}"


@dataclass(frozen=True)
class Task:
    """One ordered step of a scenario."""

    id: str
    action: str
    line: int | None = None
    description: str = ""
    when: str | None = None
    on_fail: str | None = None
    points: float = 1.0
    for_each: ForEach | None = None
    collector: dict[str, Call] = field(default_factory=dict)
    store: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    exit_codes: tuple[int, ...] = (0, 1)
    input: str | None = None
    checks: tuple[Check, ...] = ()
    scenario: ScenarioRef | None = None
    params: dict[str, Any] = field(default_factory=dict)
    export: dict[str, str] = field(default_factory=dict)

    def collector_for(self, platform: str) -> Call | None:
        """The collector of ``platform``: its variant, else the default."""
        return self.collector.get(platform, self.collector.get("default"))


@dataclass(frozen=True)
class CheckScenario:
    """A versioned, parameterised check scenario."""

    name: str
    version: str
    path: Path
    description: str = ""
    platforms: tuple[str, ...] = ()
    parameters: dict[str, Parameter] = field(default_factory=dict)
    export: dict[str, str] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    line: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def job_name(self) -> str:
        return "check_" + re.sub(r"[^A-Za-z0-9_]", "_", f"{self.name}_{self.version}")


def version_key(version: str) -> tuple:
    """Sort key of a version: numeric parts compare as numbers (``1.10.0`` > ``1.9.0``)."""
    core = re.split(r"[-+]", version, maxsplit=1)[0]
    return tuple(int(p) for p in core.split(".") if p.isdigit()), version


def parse_ref(text: Any) -> ScenarioRef | None:
    """``name[:version]`` as a reference, None when it is not one."""
    match = _REF.match(str(text).strip()) if isinstance(text, str) else None
    if not match:
        return None
    version = match.group(2)
    return ScenarioRef(match.group(1), None if version in (None, "latest") else version)


class _Reader:
    """Reads one file's scenario, collecting every problem instead of stopping at the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def bad(self, where: str, message: str, node: Any = None, task: str | None = None) -> None:
        self.problems.append(Problem(self.path, where, message, line_of(node), task))

    def keys(self, node: dict, allowed: set[str], where: str, task: str | None = None) -> None:
        unknown = sorted(set(node) - allowed)
        if unknown:
            self.bad(
                where,
                f"unknown key(s) {', '.join(unknown)}: expected {', '.join(sorted(allowed))}",
                node,
                task,
            )

    def text(self, node: dict, key: str, where: str, task: str | None = None) -> str | None:
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.bad(f"{where}.{key}", f"expected a string, got {type(value).__name__}", node, task)
            return None
        return str(value)

    def scenario(self, doc: Any) -> CheckScenario | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("scenario"), dict):
            self.bad("<root>", "expected a mapping with a top-level `scenario:` mapping", doc)
            return None
        if set(doc) - {"scenario"}:
            self.bad("<root>", f"unknown top-level key(s) {sorted(set(doc) - {'scenario'})}", doc)
        node = doc["scenario"]
        self.keys(node, _SCENARIO_KEYS, "scenario")
        name = node.get("name")
        if not isinstance(name, str) or not _IDENT.match(name):
            self.bad("scenario.name", "expected an identifier (letters, digits, _)", node)
            name = "?"
        version = node.get("version")
        if not isinstance(version, str) or not _VERSION.match(version):
            self.bad(
                "scenario.version",
                f'expected a quoted version string such as "1.0.0", got {version!r}',
                node,
            )
            version = "?"
        platforms = node.get("platforms") or []
        if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
            self.bad("scenario.platforms", "expected a list of platform names", node)
            platforms = []
        params = self.parameters(node.get("parameters") or {})
        export = self.string_map(node.get("export") or {}, "scenario.export", node)
        raw_tasks = node.get("tasks")
        tasks: list[Task] = []
        if not isinstance(raw_tasks, list) or not raw_tasks:
            self.bad("scenario.tasks", "expected a non-empty list of tasks", node)
            raw_tasks = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_tasks):
            task = self.task(raw, i, tuple(platforms))
            if task is None:
                continue
            if task.id in seen:
                self.bad(f"tasks[{i}].id", f"task id {task.id!r} is used twice", raw, task.id)
            seen.add(task.id)
            tasks.append(task)
        description = node.get("description") or ""
        return CheckScenario(
            name,
            version,
            self.path,
            str(description).strip(),
            tuple(platforms),
            params,
            export,
            tuple(tasks),
            line_of(node),
        )

    def string_map(self, node: Any, where: str, parent: Any, task: str | None = None) -> dict:
        if not isinstance(node, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in node.items()
        ):
            self.bad(where, "expected a mapping of names to names", parent, task)
            return {}
        for k in node:
            if not _IDENT.match(k):
                self.bad(where, f"{k!r} is not a variable name", parent, task)
        return dict(node)

    def parameters(self, node: Any) -> dict[str, Parameter]:
        if not isinstance(node, dict):
            self.bad("scenario.parameters", "expected a mapping of parameter names", node)
            return {}
        params = {}
        for name, spec in node.items():
            where = f"scenario.parameters.{name}"
            if not isinstance(spec, dict):
                self.bad(where, "expected a mapping with at least `type`", node)
                continue
            self.keys(spec, _PARAM_KEYS, where)
            kind = spec.get("type", "string")
            if kind not in TYPES:
                self.bad(
                    f"{where}.type",
                    f"unknown type {kind!r}: expected one of {', '.join(TYPES)}",
                    spec,
                )
                continue
            required = spec.get("required", False)
            if not isinstance(required, bool):
                self.bad(f"{where}.required", "expected true or false", spec)
            params[str(name)] = Parameter(
                str(name),
                kind,
                bool(required),
                spec.get("default"),
                str(spec.get("description") or ""),
            )
        return params

    def task(self, raw: Any, index: int, platforms: tuple[str, ...]) -> Task | None:
        where = f"tasks[{index}]"
        if not isinstance(raw, dict):
            self.bad(where, "expected a mapping with `id` and `action`", raw)
            return None
        tid = raw.get("id")
        if not isinstance(tid, str) or not _IDENT.match(tid):
            self.bad(f"{where}.id", "expected an identifier (letters, digits, _)", raw)
            return None
        where = f"tasks[{tid}]"
        action = raw.get("action")
        if action not in ACTIONS:
            self.bad(
                f"{where}.action", f"expected one of {', '.join(ACTIONS)}, got {action!r}", raw, tid
            )
            return None
        self.keys(raw, _TASK_KEYS[action] | _COMMON_KEYS, where, tid)
        points = raw.get("points", 1)
        if not isinstance(points, int | float) or isinstance(points, bool) or points < 0:
            self.bad(f"{where}.points", "expected a non-negative number", raw, tid)
            points = 1
        fields: dict[str, Any] = {
            "id": tid,
            "action": action,
            "line": line_of(raw),
            "description": str(raw.get("description") or ""),
            "when": self.text(raw, "when", where, tid),
            "on_fail": self.text(raw, "on_fail", where, tid),
            "points": float(points),
            "for_each": self.for_each(raw, where, tid),
        }
        if action == "collect":
            fields.update(self.collect(raw, where, tid, platforms))
        elif action == "parse":
            fields.update(self.parse(raw, where, tid, platforms))
        else:
            fields.update(self.invoke(raw, where, tid))
        return Task(**fields)

    def variants(
        self, node: Any, where: str, parent: Any, tid: str, platforms: tuple[str, ...]
    ) -> dict[str, str]:
        """``default`` plus platform-keyed overrides (a plain string is the default)."""
        if isinstance(node, str):
            return {"default": node}
        if not isinstance(node, dict) or not node:
            self.bad(
                where, "expected a string or a mapping of `default` and platforms", parent, tid
            )
            return {}
        out = {}
        for key, value in node.items():
            if not isinstance(value, str):
                self.bad(f"{where}.{key}", "expected a string", parent, tid)
                continue
            if key != "default" and platforms and key not in platforms:
                self.bad(
                    f"{where}.{key}",
                    f"platform {key!r} is not among the scenario's "
                    f"platforms ({', '.join(platforms)})",
                    parent,
                    tid,
                )
            out[str(key)] = value
        return out

    def call(self, node: Any, where: str, parent: Any, tid: str) -> Call | None:
        """A collector named by a string, or a mapping of ``name`` and its parameters."""
        if isinstance(node, str) and node:
            return self.known_call(Call(node), where, parent, tid)
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            self.bad(
                where,
                "expected a collector: its name (e.g. sei_status) or a mapping with `name` "
                "and its parameters (e.g. {name: read, path: .sei/bundle.json})",
                parent,
                tid,
            )
            return None
        params = {}
        for key, value in node.items():
            if key == "name":
                continue
            if not isinstance(value, str | int) or isinstance(value, bool):
                self.bad(f"{where}.{key}", "expected a text or number parameter", parent, tid)
                continue
            params[str(key)] = str(value)
        return self.known_call(Call(node["name"], params), where, parent, tid)

    def known_call(self, call: Call, where: str, parent: Any, tid: str) -> Call | None:
        """``call`` when it names a collector with fitting parameters; else a problem."""
        problem = call_problem(call)
        if problem:
            self.bad(where, problem, parent, tid)
            return None
        return call

    def collectors(
        self, node: Any, where: str, parent: Any, tid: str, platforms: tuple[str, ...]
    ) -> dict[str, Call]:
        """One collector (the default), or a mapping of ``default`` and platforms to one each."""
        if isinstance(node, str) or (isinstance(node, dict) and "name" in node):
            one = self.call(node, where, parent, tid)
            return {"default": one} if one else {}
        if not isinstance(node, dict) or not node:
            self.bad(
                where, "expected a collector or a mapping of `default` and platforms", parent, tid
            )
            return {}
        out = {}
        for key, value in node.items():
            if key != "default" and platforms and key not in platforms:
                self.bad(
                    f"{where}.{key}",
                    f"platform {key!r} is not among the scenario's "
                    f"platforms ({', '.join(platforms)})",
                    parent,
                    tid,
                )
            one = self.call(value, f"{where}.{key}", parent, tid)
            if one:
                out[str(key)] = one
        return out

    def collect(self, raw: dict, where: str, tid: str, platforms: tuple[str, ...]) -> dict:
        if "command" in raw:
            self.bad(
                f"{where}.command",
                "a check names a collector, never a command: write `collector: NAME` "
                "(sei_status, sei_verify, sei_lifecycle, git_status, git_log, git_show, "
                "committed_manifest, pipeline_status, read) with its parameters",
                raw,
                tid,
            )
        elif "collector" not in raw:
            self.bad(f"{where}.collector", "a collect task needs a `collector`", raw, tid)
        collector = (
            self.collectors(raw["collector"], f"{where}.collector", raw, tid, platforms)
            if "collector" in raw
            else {}
        )
        store = raw.get("store")
        if store is not None and (not isinstance(store, str) or not _IDENT.match(store)):
            self.bad(f"{where}.store", "expected a variable name", raw, tid)
            store = None
        elif store in RESERVED:
            self.bad(f"{where}.store", f"@{store} is reserved (the current system)", raw, tid)
        timeout = raw.get("timeout", DEFAULT_TIMEOUT)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            self.bad(f"{where}.timeout", "expected a positive number of seconds", raw, tid)
            timeout = DEFAULT_TIMEOUT
        codes = raw.get("exit_codes", [0, 1])
        if not isinstance(codes, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in codes
        ):
            self.bad(f"{where}.exit_codes", "expected a list of integers", raw, tid)
            codes = [0, 1]
        return {
            "collector": collector,
            "store": store,
            "timeout": float(timeout),
            "exit_codes": tuple(codes),
        }

    def parse(self, raw: dict, where: str, tid: str, platforms: tuple[str, ...]) -> dict:
        source = raw.get("input")
        if not isinstance(source, str) or not source.strip().startswith("@"):
            self.bad(f"{where}.input", 'expected a runtime variable such as "@output"', raw, tid)
            source = None
        raw_checks = raw.get("checks")
        if not isinstance(raw_checks, list) or not raw_checks:
            self.bad(f"{where}.checks", "a parse task needs a non-empty list of checks", raw, tid)
            raw_checks = []
        checks, seen = [], set()
        for i, node in enumerate(raw_checks):
            check = self.check(node, f"{where}.checks[{i}]", tid, platforms)
            if check is None:
                continue
            if check.id in seen:
                self.bad(
                    f"{where}.checks[{i}].id", f"check id {check.id!r} is used twice", node, tid
                )
            seen.add(check.id)
            checks.append(check)
        return {"input": source.strip() if source else None, "checks": tuple(checks)}

    def check(self, node: Any, where: str, tid: str, platforms: tuple[str, ...]) -> Check | None:
        if not isinstance(node, dict):
            self.bad(where, "expected a mapping with `id` and `regex`", node, tid)
            return None
        self.keys(node, _CHECK_KEYS, where, tid)
        cid = node.get("id")
        if not isinstance(cid, str) or not _IDENT.match(cid):
            self.bad(f"{where}.id", "expected an identifier (letters, digits, _)", node, tid)
            return None
        where = f"{where.rsplit('[', 1)[0]}[{cid}]"
        regex = self.variants(node.get("regex"), f"{where}.regex", node, tid, platforms)
        if regex and "default" not in regex and not platforms:
            self.bad(f"{where}.regex", "expected a `default` regex", node, tid)
        flag_text = str(node.get("flags") or "")
        flags = 0
        for ch in flag_text:
            if ch not in FLAGS:
                self.bad(
                    f"{where}.flags",
                    f"unknown flag {ch!r}: expected letters of {''.join(FLAGS)}",
                    node,
                    tid,
                )
                continue
            flags |= FLAGS[ch]
        expected = node.get("expected_result", "match")
        if expected not in EXPECTED:
            self.bad(
                f"{where}.expected_result",
                f"expected match or no_match, got {expected!r}",
                node,
                tid,
            )
        set_var = node.get("set")
        if set_var is not None and (not isinstance(set_var, str) or not _IDENT.match(set_var)):
            self.bad(f"{where}.set", "expected a variable name", node, tid)
            set_var = None
        capture = node.get("capture") or {}
        if not isinstance(capture, dict) or not all(
            isinstance(k, str) and _IDENT.match(k) and isinstance(v, int | str)
            for k, v in capture.items()
        ):
            self.bad(
                f"{where}.capture",
                "expected a mapping of variable names to group numbers or names",
                node,
                tid,
            )
            capture = {}
        for name in [set_var, *capture]:
            if name in RESERVED:
                self.bad(where, f"@{name} is reserved (the current system)", node, tid)
        return Check(
            cid,
            regex,
            flags,
            flag_text,
            str(expected),
            str(node.get("description") or ""),
            set_var,
            dict(capture),
            self.text(node, "on_fail", where, tid),
            self.text(node, "when", where, tid),
            line_of(node),
        )

    def invoke(self, raw: dict, where: str, tid: str) -> dict:
        ref = parse_ref(raw.get("scenario"))
        if ref is None:
            self.bad(
                f"{where}.scenario",
                f"expected name or name:version, got {raw.get('scenario')!r}",
                raw,
                tid,
            )
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            self.bad(f"{where}.params", "expected a mapping of parameter names to values", raw, tid)
            params = {}
        export = self.string_map(raw.get("export") or {}, f"{where}.export", raw, tid)
        return {"scenario": ref, "params": dict(params), "export": export}

    def for_each(self, raw: dict, where: str, tid: str) -> ForEach | None:
        node = raw.get("for_each")
        if node is None:
            return None
        where = f"{where}.for_each"
        if not isinstance(node, dict):
            self.bad(where, "expected a mapping with `var` and `in`", raw, tid)
            return None
        self.keys(node, _FOR_EACH_KEYS, where, tid)
        var = node.get("var")
        if not isinstance(var, str) or not _IDENT.match(var):
            self.bad(f"{where}.var", "expected a variable name", node, tid)
            return None
        if var in RESERVED:
            self.bad(f"{where}.var", f"@{var} is reserved (the current system)", node, tid)
        if "in" not in node:
            self.bad(
                f"{where}.in", "expected a list, a {{ list_parameter }} or an @variable", node, tid
            )
        stop = node.get("stop_on_fail", True)
        if not isinstance(stop, bool):
            self.bad(f"{where}.stop_on_fail", "expected true or false", node, tid)
            stop = True
        mode = node.get("mode", "sequential")
        if mode == "concurrent":
            self.bad(
                f"{where}.mode",
                "mode concurrent is reserved for future use: expected sequential",
                node,
                tid,
            )
        elif mode != "sequential":
            self.bad(f"{where}.mode", f"expected sequential, got {mode!r}", node, tid)
        return ForEach(var, node.get("in"), stop, "sequential")


def load_check_scenario(path: Path) -> CheckScenario:
    """One scenario file, checked for shape; `CheckError` lists every problem found."""
    path = Path(path)
    reader = _Reader(path)
    scenario = reader.scenario(read_yaml(path))
    if reader.problems or scenario is None:
        raise CheckError(reader.problems)
    return scenario
