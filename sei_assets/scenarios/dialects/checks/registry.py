"""The registry of versioned check scenarios: several versions of one scenario side by side.

Loading a folder checks every file, then what spans files: every ``action: scenario`` names a
registered scenario and version, passes only parameters the child declares (and every one it
requires), exports only what the child exports; every ``{{ param | filter }}`` names a declared
parameter and known filters; every regex compiles; composition nests at most `MAX_DEPTH` deep
and never cycles. A problem names its file, line and task id.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sei_assets.scenarios.dialects.checks.model import (
    CheckError,
    CheckScenario,
    Problem,
    ScenarioRef,
    Task,
    load_check_scenario,
    version_key,
)
from sei_assets.scenarios.dialects.checks.notation import (
    Filters,
    condition_syntax,
    load_filters,
    placeholder,
    references,
)

MAX_DEPTH = 3
CHECKS_ENV = "SEI_CHECKS_DIR"
FILTERS_FILE = "filters.yaml"


def checks_dir(directory: Path | None = None) -> Path:
    """The check library: ``directory`` when given, else `$SEI_CHECKS_DIR`, else
    `checks/` in the scenarios folder (`scenarios/checks/` of the checkout)."""
    if directory is not None:
        return Path(directory)
    override = os.environ.get(CHECKS_ENV)
    if override:
        return Path(override)
    from sei_assets.scenarios.dialects.harness.model import scenarios_dir

    return scenarios_dir() / "checks"


def check_files(directory: Path) -> list[Path]:
    """The scenario files of a library folder (YAML, the filters file apart), by name."""
    return sorted(
        p
        for p in [*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")]
        if p.name != FILTERS_FILE
    )


@dataclass
class CheckRegistry:
    """Scenarios by name and version, and the filters they may use."""

    scenarios: dict[str, dict[str, CheckScenario]] = field(default_factory=dict)
    filters: Filters = field(default_factory=Filters)

    def add(self, scenario: CheckScenario) -> Problem | None:
        versions = self.scenarios.setdefault(scenario.name, {})
        if scenario.version in versions:
            first = versions[scenario.version]
            return Problem(
                scenario.path,
                "scenario.version",
                f"{scenario.key} is already registered by {first.path}",
                scenario.line,
            )
        versions[scenario.version] = scenario
        return None

    def versions(self, name: str) -> list[str]:
        """The registered versions of ``name``, oldest first."""
        return sorted(self.scenarios.get(name, {}), key=version_key)

    def all(self) -> list[CheckScenario]:
        return [self.scenarios[n][v] for n in sorted(self.scenarios) for v in self.versions(n)]

    def find(self, ref: ScenarioRef) -> CheckScenario | str:
        """The scenario ``ref`` names (``latest`` when no version), or why there is none."""
        if ref.name not in self.scenarios:
            known = ", ".join(sorted(self.scenarios)) or "none"
            return f"unknown scenario {ref.name!r}: registered are {known}"
        versions = self.versions(ref.name)
        version = ref.version or versions[-1]
        if version not in self.scenarios[ref.name]:
            return (
                f"unknown version {ref.name}:{version}: registered versions are "
                f"{', '.join(versions)}"
            )
        return self.scenarios[ref.name][version]

    def get(self, text: str) -> CheckScenario:
        """The scenario ``name[:version]``; a `CheckError` when it is not registered."""
        from sei_assets.scenarios.dialects.checks.model import parse_ref

        ref = parse_ref(text)
        found = self.find(ref) if ref else f"expected NAME or NAME:VERSION, got {text!r}"
        if isinstance(found, str):
            raise CheckError([Problem(Path("<command line>"), "scenario", found)])
        return found


def _task_problems(registry: CheckRegistry, scenario: CheckScenario, task: Task) -> list[Problem]:
    """What is wrong with one task once every file is known."""
    out: list[Problem] = []

    def bad(where: str, message: str, line: int | None = None) -> None:
        out.append(Problem(scenario.path, where, message, line or task.line, task.id))

    where = f"tasks[{task.id}]"
    texts: list[tuple[str, str, int | None]] = []
    if task.when:
        texts.append((f"{where}.when", task.when, None))
        reason = condition_syntax(task.when)
        if reason:
            bad(f"{where}.when", reason)
    if task.on_fail:
        texts.append((f"{where}.on_fail", task.on_fail, None))
    for key, call in task.collector.items():
        for name, value in call.params.items():
            texts.append((f"{where}.collector.{key}.{name}", value, None))
    if task.for_each and isinstance(task.for_each.source, str):
        texts.append((f"{where}.for_each.in", task.for_each.source, None))
    for name, value in task.params.items():
        if isinstance(value, str):
            texts.append((f"{where}.params.{name}", value, None))
    for check in task.checks:
        cw = f"{where}.checks[{check.id}]"
        for text, sub in ((check.description, "description"), (check.on_fail, "on_fail")):
            if text:
                texts.append((f"{cw}.{sub}", text, check.line))
        if check.when:
            texts.append((f"{cw}.when", check.when, check.line))
            reason = condition_syntax(check.when)
            if reason:
                bad(f"{cw}.when", reason, check.line)
        for key, pattern in check.regex.items():
            texts.append((f"{cw}.regex.{key}", pattern, check.line))
            try:
                compiled = re.compile(placeholder(pattern), check.flags)
            except re.error as exc:
                bad(f"{cw}.regex.{key}", f"bad regex {pattern!r}: {exc}", check.line)
                continue
            for var, group in check.capture.items():
                known = group in compiled.groupindex if isinstance(group, str) else None
                if isinstance(group, int) and group > compiled.groups or known is False:
                    bad(
                        f"{cw}.capture.{var}",
                        f"regex.{key} has no group {group!r} ({compiled.groups} groups)",
                        check.line,
                    )
    for field_name, text, line in texts:
        params, _vars = references(text)
        for name, filters in params:
            if name not in scenario.parameters:
                declared = ", ".join(scenario.parameters) or "none"
                bad(field_name, f"unknown parameter {name!r}: declared are {declared}", line)
            for f in filters:
                if not registry.filters.known(f):
                    bad(
                        field_name,
                        f"unknown filter {f!r}: expected one of "
                        f"{', '.join(registry.filters.names())}",
                        line,
                    )
    if task.action == "scenario" and task.scenario is not None:
        child = registry.find(task.scenario)
        if isinstance(child, str):
            bad(f"{where}.scenario", child)
            return out
        for name in task.params:
            if name not in child.parameters:
                declared = ", ".join(child.parameters) or "none"
                bad(
                    f"{where}.params.{name}",
                    f"unknown parameter {name!r} of {child.key}: it declares {declared}",
                )
        for name, param in child.parameters.items():
            if param.required and param.default is None and name not in task.params:
                bad(f"{where}.params", f"{child.key} requires the parameter {name!r}")
        for mine, theirs in task.export.items():
            if theirs not in child.export:
                exported = ", ".join(child.export) or "nothing"
                bad(
                    f"{where}.export.{mine}",
                    f"{child.key} does not export {theirs!r}: it exports {exported}",
                )
    return out


def _flow_problems(scenario: CheckScenario) -> list[Problem]:
    """A parse ``input`` that no earlier task stores, sets, captures or exports (a typo)."""
    out: list[Problem] = []
    known: set[str] = set()
    for task in scenario.tasks:
        if task.for_each:
            known.add(task.for_each.var)
        if task.action == "parse" and task.input:
            name = task.input[1:].split(".")[0]
            if name not in known:
                out.append(
                    Problem(
                        scenario.path,
                        f"tasks[{task.id}].input",
                        f"{task.input} is not stored by an earlier task (known: "
                        f"{', '.join(sorted(known)) or 'none'})",
                        task.line,
                        task.id,
                    )
                )
        known |= {task.store} if task.store else set()
        known |= set(task.export)
        for check in task.checks:
            known |= ({check.set} if check.set else set()) | set(check.capture)
    return out


def _graph_problems(registry: CheckRegistry) -> list[Problem]:
    """Cycles and nesting deeper than `MAX_DEPTH`, found on the dependency graph.

    The depth of a scenario is 0 without sub-scenarios, else one more than its deepest child.
    """
    out: list[Problem] = []
    depth: dict[str, int] = {}
    visiting: list[str] = []

    def visit(scenario: CheckScenario) -> int:
        if scenario.key in depth:
            return depth[scenario.key]
        visiting.append(scenario.key)
        best = 0
        for task in scenario.tasks:
            if task.action != "scenario" or task.scenario is None:
                continue
            child = registry.find(task.scenario)
            if isinstance(child, str):
                continue
            if child.key in visiting:
                cycle = [*visiting[visiting.index(child.key) :], child.key]
                out.append(
                    Problem(
                        scenario.path,
                        f"tasks[{task.id}].scenario",
                        f"circular composition: {' -> '.join(cycle)}",
                        task.line,
                        task.id,
                    )
                )
                continue
            below = 1 + visit(child)
            if below > MAX_DEPTH:
                out.append(
                    Problem(
                        scenario.path,
                        f"tasks[{task.id}].scenario",
                        f"composition nests {below} levels deep through {child.key}: at most "
                        f"{MAX_DEPTH} are allowed",
                        task.line,
                        task.id,
                    )
                )
            best = max(best, below)
        visiting.pop()
        depth[scenario.key] = best
        return best

    for scenario in registry.all():
        visit(scenario)
    return out


def load_checks(directory: Path | None = None) -> CheckRegistry:
    """The check library of ``directory`` (see `checks_dir`), fully validated; `CheckError`
    lists every problem of every file."""
    folder = checks_dir(directory)
    if not folder.is_dir():
        raise CheckError([Problem(folder, "<folder>", "the check library folder does not exist")])
    registry, problems = load_checks_lenient(directory)
    if problems:
        raise CheckError(problems)
    return registry


def load_checks_lenient(directory: Path | None = None) -> tuple[CheckRegistry, list[Problem]]:
    """As `load_checks`, returning the problems with the scenarios that are sound (a scenario
    that composes a broken one is left out too)."""
    folder = checks_dir(directory)
    filters_path = folder / FILTERS_FILE
    filters, filter_problems = load_filters(filters_path)
    problems = [Problem(filters_path, w, m, line) for w, line, m in filter_problems]
    registry = CheckRegistry(filters=filters)
    if not folder.is_dir():
        return registry, problems
    for path in check_files(folder):
        try:
            scenario = load_check_scenario(path)
        except CheckError as exc:
            problems += exc.problems
            continue
        dup = registry.add(scenario)
        if dup:
            problems.append(dup)
    bad: set[str] = set()
    for scenario in registry.all():
        found = [p for t in scenario.tasks for p in _task_problems(registry, scenario, t)]
        found += _flow_problems(scenario)
        if found:
            bad.add(scenario.key)
        problems += found
    graph = _graph_problems(registry)
    problems += graph
    bad |= {s.key for s in registry.all() for p in graph if p.file == s.path}
    sound = CheckRegistry(filters=filters)
    for scenario in registry.all():
        if scenario.key not in bad:
            sound.add(scenario)
    # a scenario that composes a left-out one is left out too
    changed = True
    while changed:
        changed = False
        for scenario in sound.all():
            for task in scenario.tasks:
                if task.scenario is not None and isinstance(sound.find(task.scenario), str):
                    del sound.scenarios[scenario.name][scenario.version]
                    if not sound.scenarios[scenario.name]:
                        del sound.scenarios[scenario.name]
                    changed = True
                    break
    return sound, problems
