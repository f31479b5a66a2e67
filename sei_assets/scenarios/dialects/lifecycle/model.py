"""Lifecycle resources: loading `kind: Scenario`, `kind: Project` and `kind: Provider` files.

Files are YAML or JSON (JSON is read as YAML, so one loader gives line numbers for both). A file
is a lifecycle resource when it is a mapping with `apiVersion` and `kind`; other files in the
folder (data a scenario ships) are ignored. Loading builds plain dataclasses and never raises on
a malformed file: what cannot be built is a `Problem` (rule, file, path, line, message) that
`validate` reports with the rest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.errors import SeiError

API_VERSIONS = ("sei/v1", "shinari/v1")
KINDS = ("Scenario", "Project", "Provider")
LIFECYCLE_ENV = "SEI_LIFECYCLE_DIR"
PROJECT_FILE = "project.yaml"
SUFFIXES = (".yaml", ".yml", ".json")

SCENARIO_KEYS = (
    "apiVersion",
    "kind",
    "name",
    "description",
    "tags",
    "providers",
    "vars",
    "timeout",
    "setup",
    "steadyState",
    "method",
    "verify",
    "teardown",
)
STEP_SECTIONS = ("setup", "steadyState", "verify", "teardown")
STEP_KEYS = ("run", "with", "as", "read", "capture", "timeout", "name", "expect", "finding")
PROJECT_KEYS = ("apiVersion", "kind", "name", "description", "providers", "vars", "env")
PROVIDER_KEYS = ("apiVersion", "kind", "name", "description", "verbs")
VERB_KEYS = ("description", "params", "steps", "mutating")


@dataclass(frozen=True)
class Problem:
    """One finding of loading or validation: a numbered rule, where, and what was expected."""

    rule: int
    file: str
    path: str
    message: str
    line: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" {self.path}:" if self.path else ""
        return f"{where}:{at} {self.message} [rule {self.rule}, {self.severity}]"


class LifecycleError(SeiError):
    """Lifecycle files that cannot run: every error problem, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Lines(dict):
    """A mapping that remembers the line of each key (1-based)."""

    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """Safe YAML loader whose mappings are `_Lines`."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Lines:
    loader.flatten_mapping(node)
    out = _Lines()
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def line_of(mapping: Any, key: Any) -> int | None:
    """The line of ``key`` in a loaded mapping, when known."""
    return getattr(mapping, "lines", {}).get(key)


@dataclass
class Step:
    """One step: a verb, its arguments (`with`), what it binds, its checks."""

    run: str
    path: str
    line: int | None
    args: Any = None
    bind: str | None = None
    read: str | None = None
    capture: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    name: str = ""
    expect: list[str] = field(default_factory=list)
    finding: bool = False

    def describe(self) -> str:
        """The step in one line: its name, else its verb."""
        return self.name or self.run


@dataclass
class Phase:
    """One phase of the method: a title and its ordered steps."""

    title: str
    steps: list[Step]
    path: str


@dataclass
class ComposedVerb:
    """A verb of a `kind: Provider` file: parameters and a body of steps."""

    provider: str
    verb: str
    params: dict[str, Any]
    required: tuple[str, ...]
    steps: list[Step]
    file: Path
    path: str
    mutating: bool | None = None

    @property
    def name(self) -> str:
        """`<provider>.<verb>`."""
        return f"{self.provider}.{self.verb}"


@dataclass
class Project:
    """The project file: providers, vars and the declared environment."""

    file: Path | None = None
    providers: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """A `kind: Scenario` file, its sections built into steps and phases."""

    name: str
    file: Path
    description: str = ""
    tags: list[str] = field(default_factory=list)
    providers: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    setup: list[Step] = field(default_factory=list)
    steady_state: list[Step] = field(default_factory=list)
    method: list[Phase] = field(default_factory=list)
    verify: list[Step] = field(default_factory=list)
    teardown: list[Step] | None = None
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The name as a Dagster name."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)

    @property
    def job_name(self) -> str:
        """The Dagster job: `lifecycle_<name>`."""
        return f"lifecycle_{self.slug}"

    def all_steps(self) -> list[tuple[str, Step]]:
        """(section, step) of every step, in timeline order (teardown last)."""
        out = [("setup", s) for s in self.setup] + [("steadyState", s) for s in self.steady_state]
        out += [("method", s) for p in self.method for s in p.steps]
        out += [("verify", s) for s in self.verify]
        return out + [("teardown", s) for s in self.teardown or []]


@dataclass
class Catalog:
    """Every lifecycle resource of a folder, and what could not be loaded."""

    directory: Path
    project: Project
    scenarios: list[Scenario]
    verbs: dict[str, ComposedVerb]
    problems: list[Problem]
    kinds: dict[str, str] = field(default_factory=dict)

    def scenario(self, name: str) -> Scenario | None:
        """The scenario called ``name``."""
        return next((s for s in self.scenarios if s.name == name), None)


def lifecycle_dir(directory: Path | None = None) -> Path:
    """The lifecycle folder: ``directory`` itself when it holds lifecycle files, else its
    `lifecycle/`; default `$SEI_LIFECYCLE_DIR`, else `<scenarios>/lifecycle/`."""
    if directory is not None:
        d = Path(directory)
        return d / "lifecycle" if (d / "lifecycle").is_dir() else d
    if os.environ.get(LIFECYCLE_ENV):
        return Path(os.environ[LIFECYCLE_ENV])
    from sei_assets.scenarios.dialects.harness.model import scenarios_dir

    return scenarios_dir() / "lifecycle"


def read_document(path: Path) -> tuple[Any, Problem | None]:
    """The parsed file, or the parse problem (rule 1) with its line."""
    from sei_assets.core import safeload
    from sei_assets.core.errors import ManifestError

    try:
        text = safeload.read_text(path, "lifecycle file")
        safeload.parse_yaml(path, text, "lifecycle file")  # the bounds, before the line loader
    except ManifestError as exc:
        return None, Problem(1, str(path), exc.key_path, exc.expected, exc.line)
    try:
        return yaml.load(text, Loader=_Loader), None  # noqa: S506 (a SafeLoader subclass)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        return None, Problem(1, str(path), "", f"invalid value: {exc}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        what = getattr(exc, "problem", None) or str(exc)
        return None, Problem(1, str(path), "", f"not valid YAML/JSON: {what}", line)


def is_resource(doc: Any) -> bool:
    """A lifecycle resource: a mapping with `apiVersion` and `kind`."""
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def resource_files(directory: Path) -> list[Path]:
    """Candidate files of a lifecycle folder (recursively), by path."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in SUFFIXES and p.is_file())


class _Builder:
    """Builds one file's dataclasses, collecting shape problems instead of raising."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, rule: int, path: str, message: str, line: int | None) -> None:
        self.problems.append(Problem(rule, str(self.file), path, message, line))

    def unknown_keys(self, doc: dict, known: tuple[str, ...], path: str) -> None:
        import difflib

        for key in doc:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                where = f"{path}.{key}" if path else str(key)
                self.problem(
                    3, where, f"unknown key '{key}'{hint}; expected one of: {', '.join(known)}",
                    line_of(doc, key),
                )  # fmt: skip

    def mapping(self, doc: dict, key: str, path: str) -> dict[str, Any]:
        value = doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(4, _join(path, key), "expected a mapping", line_of(doc, key))
            return {}
        return dict(value)

    def timeout(self, doc: dict, key: str, path: str) -> float | None:
        value = doc.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.problem(
                8, _join(path, key), f"expected a positive number of seconds, got {value!r}",
                line_of(doc, key),
            )  # fmt: skip
            return None
        return float(value)

    def steps(self, value: Any, path: str, line: int | None) -> list[Step]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(4, path, "expected a list of steps", line)
            return []
        out = []
        for i, raw in enumerate(value):
            step = self.step(raw, f"{path}[{i}]", line)
            if step is not None:
                out.append(step)
        return out

    def step(self, raw: Any, path: str, line: int | None) -> Step | None:
        if not isinstance(raw, dict):
            self.problem(5, path, "expected a step mapping with 'run:'", line)
            return None
        line = line_of(raw, "run") or next(iter(getattr(raw, "lines", {}).values()), line)
        self.unknown_keys(raw, STEP_KEYS, path)
        verb = raw.get("run")
        if not isinstance(verb, str) or not verb:
            self.problem(5, path, "missing 'run:' (the verb, e.g. fs.write)", line)
            return None
        capture = raw.get("capture") or {}
        if not isinstance(capture, dict) or not all(isinstance(v, str) for v in capture.values()):
            self.problem(4, f"{path}.capture", "expected a mapping NAME: <jq>", line)
            capture = {}
        expect = raw.get("expect")
        expect = [] if expect is None else expect if isinstance(expect, list) else [expect]
        if not all(isinstance(e, str) for e in expect):
            self.problem(4, f"{path}.expect", "expected a jq predicate or a list of them", line)
            expect = []
        for key in ("as", "read", "name"):
            if key in raw and not isinstance(raw[key], str):
                self.problem(4, f"{path}.{key}", "expected a string", line_of(raw, key))
        return Step(
            run=verb,
            path=path,
            line=line,
            args=raw.get("with"),
            bind=raw.get("as") if isinstance(raw.get("as"), str) else None,
            read=raw.get("read") if isinstance(raw.get("read"), str) else None,
            capture=dict(capture),
            timeout=self.timeout(raw, "timeout", path),
            name=name if isinstance(name := raw.get("name"), str) else "",
            expect=list(expect),
            finding=bool(raw.get("finding", False)),
        )

    def phases(self, value: Any, line: int | None) -> list[Phase]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(4, "method", "expected a list of phases", line)
            return []
        out = []
        for i, raw in enumerate(value):
            path = f"method[{i}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
                self.problem(
                    4, path, "expected a phase: {phase: <title>, steps: [<step>...]}", line
                )
                continue
            self.unknown_keys(raw, ("phase", "steps"), path)
            steps = self.steps(raw["steps"], f"{path}.steps", line_of(raw, "steps"))
            out.append(Phase(str(raw.get("phase") or f"phase {i}"), steps, path))
        return out

    def scenario(self, doc: dict) -> Scenario | None:
        self.unknown_keys(doc, SCENARIO_KEYS, "")
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(2, "name", "missing 'name' (a string)", line_of(doc, "kind"))
            return None
        tags = doc.get("tags") or []
        if not isinstance(tags, list):
            self.problem(4, "tags", "expected a list of strings", line_of(doc, "tags"))
            tags = []
        teardown = None
        if "teardown" in doc:
            teardown = self.steps(doc["teardown"] or [], "teardown", line_of(doc, "teardown"))
        return Scenario(
            name=name,
            file=self.file,
            description=str(doc.get("description") or ""),
            tags=[str(t) for t in tags],
            providers=self.mapping(doc, "providers", ""),
            vars=self.mapping(doc, "vars", ""),
            timeout=self.timeout(doc, "timeout", ""),
            setup=self.steps(doc.get("setup"), "setup", line_of(doc, "setup")),
            steady_state=self.steps(
                doc.get("steadyState"), "steadyState", line_of(doc, "steadyState")
            ),
            method=self.phases(doc.get("method"), line_of(doc, "method")),
            verify=self.steps(doc.get("verify"), "verify", line_of(doc, "verify")),
            teardown=teardown,
            doc=doc,
        )

    def project(self, doc: dict) -> Project:
        self.unknown_keys(doc, PROJECT_KEYS, "")
        env = doc.get("env") or {}
        if isinstance(env, list) and all(isinstance(e, str) for e in env):
            env = {e: None for e in env}
        if not isinstance(env, dict):
            self.problem(4, "env", "expected a list of names or NAME: default", line_of(doc, "env"))
            env = {}
        return Project(
            file=self.file,
            providers=self.mapping(doc, "providers", ""),
            vars=self.mapping(doc, "vars", ""),
            env=dict(env),
        )

    def provider(self, doc: dict) -> list[ComposedVerb]:
        self.unknown_keys(doc, PROVIDER_KEYS, "")
        name = doc.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            self.problem(2, "name", "expected a provider name (letters, digits, _ -)", None)
            return []
        verbs = doc.get("verbs")
        if not isinstance(verbs, dict) or not verbs:
            self.problem(4, "verbs", "expected a mapping VERB: {params, steps}", None)
            return []
        out = []
        for verb, body in verbs.items():
            path = f"verbs.{verb}"
            if not isinstance(body, dict):
                self.problem(
                    4, path, "expected {params: [...], steps: [...]}", line_of(verbs, verb)
                )
                continue
            self.unknown_keys(body, VERB_KEYS, path)
            params, required = _params(body.get("params"))
            if params is None:
                self.problem(
                    4, f"{path}.params", "expected a list of names or NAME: default",
                    line_of(body, "params"),
                )  # fmt: skip
                params, required = {}, ()
            steps = self.steps(body.get("steps"), f"{path}.steps", line_of(body, "steps"))
            mutating = body.get("mutating")
            out.append(
                ComposedVerb(
                    name,
                    str(verb),
                    params,
                    required,
                    steps,
                    self.file,
                    path,
                    mutating if isinstance(mutating, bool) else None,
                )
            )
        return out


def _params(value: Any) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """A `params:` list (names, required) or mapping (NAME: default; null = required)."""
    if value is None:
        return {}, ()
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return {p: None for p in value}, tuple(value)
    if isinstance(value, dict):
        return dict(value), tuple(k for k, v in value.items() if v is None)
    return None, ()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load_catalog(directory: Path | None = None) -> Catalog:
    """Every lifecycle resource under ``directory`` (see `lifecycle_dir`); never raises."""
    base = lifecycle_dir(directory)
    problems: list[Problem] = []
    project = Project()
    scenarios: list[Scenario] = []
    verbs: dict[str, ComposedVerb] = {}
    kinds: dict[str, str] = {}
    for path in resource_files(base):
        doc, problem = read_document(path)
        if problem:
            problems.append(problem)
            continue
        if not is_resource(doc):
            continue
        b = _Builder(path)
        if doc["apiVersion"] not in API_VERSIONS:
            b.problem(
                1, "apiVersion", f"unknown apiVersion {doc['apiVersion']!r}; expected one of: "
                f"{', '.join(API_VERSIONS)}", line_of(doc, "apiVersion"),
            )  # fmt: skip
        kind = doc["kind"]
        kinds[str(path)] = str(kind)
        if kind == "Scenario":
            scenario = b.scenario(doc)
            if scenario is not None:
                scenarios.append(scenario)
        elif kind == "Project":
            if project.file is not None:
                b.problem(1, "kind", f"a second Project (the first is {project.file})", None)
            else:
                project = b.project(doc)
        elif kind == "Provider":
            for verb in b.provider(doc):
                if verb.name in verbs:
                    b.problem(
                        12, verb.path, f"composed verb {verb.name} is already defined in "
                        f"{verbs[verb.name].file}", None,
                    )  # fmt: skip
                verbs[verb.name] = verb
        else:
            b.problem(
                1, "kind", f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}",
                line_of(doc, "kind"),
            )  # fmt: skip
        problems += b.problems
    seen: dict[str, Path] = {}
    for s in scenarios:
        if s.name in seen:
            problems.append(
                Problem(12, str(s.file), "name", f"scenario {s.name!r} is also defined in "
                        f"{seen[s.name]}", line_of(s.doc, "name"))
            )  # fmt: skip
        seen.setdefault(s.name, s.file)
    return Catalog(base, project, scenarios, verbs, problems, kinds)
