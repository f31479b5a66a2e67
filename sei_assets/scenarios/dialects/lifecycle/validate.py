"""`sei scenario validate`: numbered rules, checked before any step runs.

| rule | what | severity |
|---|---|---|
| 1 | the file parses (YAML or JSON); `apiVersion` and `kind` are known; one Project | error |
| 2 | a Scenario or Provider has a `name` | error |
| 3 | no unknown key (scenario, step, phase, project, provider, verb) | error |
| 4 | every section, field and phase has its shape | error |
| 5 | every step has `run:` | error |
| 6 | every verb exists (a provider's, or a composed `kind: Provider` verb) | error |
| 7 | a verb's `with:` names only its parameters and gives the required ones | error |
| 8 | every `timeout:` is a positive number of seconds | error |
| 9 | a steadyState step resolves to a mutating action | warning |
| 10 | every `${...}` reads a declared name of `.vars`, `.outputs`, `.env` or `.params` | error |
| 11 | every jq program (`${...}`, `read`, `capture`, `expect`) compiles | error |
| 12 | scenario names and composed verbs are unique | error |
| 13 | `as:` and `capture:` names are identifiers | error |
| 14 | every tag matches `[A-Za-z0-9_./-]+` | error |
| 15 | at most one configured provider implements up/down (the default teardown) | error |
| 16 | composed verbs do not call themselves, directly or not | error |
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sei_assets.scenarios.dialects.lifecycle.interpolate import (
    NAMESPACES,
    ExpressionError,
    check_syntax,
    references,
    scope_names,
    walk_strings,
)
from sei_assets.scenarios.dialects.lifecycle.model import Catalog, Problem, Scenario, Step
from sei_assets.scenarios.dialects.lifecycle.providers import VERBS
from sei_assets.scenarios.dialects.lifecycle.tags import TAG

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Checker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.problems: list[Problem] = []
        self.binds = {
            name for verb in catalog.verbs.values() for step in verb.steps for name in _bound(step)
        }

    def add(self, rule: int, file: Path, path: str, message: str, line: int | None,
            severity: str = "error") -> None:  # fmt: skip
        self.problems.append(Problem(rule, str(file), path, message, line, severity))

    # ------------------------------------------------------------ one step

    def step(self, file: Path, step: Step, declared: dict[str, set[str]], in_provider: bool,
             section: str | None = None) -> None:  # fmt: skip
        self.verb(file, step)
        for name in _bound(step):
            if not IDENT.fullmatch(name):
                self.add(13, file, step.path, f"binding name {name!r} is not an identifier "
                         "([A-Za-z_][A-Za-z0-9_]*)", step.line)  # fmt: skip
        for text in walk_strings(step.args) + list(step.expect):
            self.references(file, step, text, declared, in_provider)
        programs = [("read", step.read)] if step.read else []
        programs += [(f"capture.{k}", v) for k, v in step.capture.items()]
        programs += [("expect", e) for e in step.expect if "${" not in e]
        for where, program in programs:
            reason = check_syntax(program)
            if reason:
                self.add(11, file, f"{step.path}.{where}", reason, step.line)
        if section == "steadyState" and self.mutating(step.run, set()):
            self.add(9, file, step.path, f"steadyState step resolves to a mutating action "
                     f"({step.run}); steadyState runs twice and must be idempotent", step.line,
                     "warning")  # fmt: skip

    def verb(self, file: Path, step: Step) -> None:
        composed = self.catalog.verbs.get(step.run)
        if composed is not None:
            params, required = set(composed.params), set(composed.required)
        elif step.run in VERBS:
            verb = VERBS[step.run]
            if verb.params is None:
                self.engine_options(file, step)
                return
            params = set(verb.params)
            required = {k for k, needed in verb.params.items() if needed}
            if step.args is not None and not isinstance(step.args, dict):
                if verb.scalar is None:
                    self.add(
                        7,
                        file,
                        f"{step.path}.with",
                        f"{step.run} takes a mapping of its "
                        f"parameters ({', '.join(sorted(params)) or 'none'})",
                        step.line,
                    )
                return  # fmt: skip
        else:
            known = sorted({*VERBS, *self.catalog.verbs})
            import difflib

            close = difflib.get_close_matches(step.run, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.add(6, file, f"{step.path}.run", f"unknown verb {step.run!r}{hint}", step.line)
            return
        if step.args is None:
            args: dict[str, Any] = {}
        elif isinstance(step.args, dict):
            args = step.args
        elif len(params) == 1:
            args = {next(iter(params)): step.args}
        else:
            self.add(7, file, f"{step.path}.with", f"{step.run} takes a mapping of its "
                     f"parameters ({', '.join(sorted(params))})", step.line)  # fmt: skip
            return
        for key in args:
            if key not in params:
                self.add(
                    7,
                    file,
                    f"{step.path}.with.{key}",
                    f"{step.run} has no parameter "
                    f"'{key}' (parameters: {', '.join(sorted(params)) or 'none'})",
                    step.line,
                )
        for key in sorted(required - set(args)):
            self.add(7, file, f"{step.path}.with", f"{step.run} needs parameter '{key}'",
                     step.line)  # fmt: skip

    def engine_options(self, file: Path, step: Step) -> None:
        """Rule 7 for `sei.*`: `with:` keys must be options of that engine verb."""
        from sei_assets.scenarios.dialects.lifecycle.providers.sei import option_problems

        if step.args is None:
            return
        if not isinstance(step.args, dict):
            self.add(7, file, f"{step.path}.with", f"{step.run} takes a mapping of its options",
                     step.line)  # fmt: skip
            return
        for message in option_problems(step.run.split(".", 1)[1], step.args):
            self.add(7, file, f"{step.path}.with", message, step.line)

    def mutating(self, name: str, seen: set[str]) -> bool:
        """Whether verb ``name`` acts (a composed verb: when declared so, or any body step)."""
        if name in VERBS:
            return VERBS[name].mutating
        composed = self.catalog.verbs.get(name)
        if composed is None or name in seen:
            return False
        if composed.mutating is not None:
            return composed.mutating
        return any(self.mutating(s.run, seen | {name}) for s in composed.steps)

    def references(self, file: Path, step: Step, text: str, declared: dict[str, set[str]],
                   in_provider: bool) -> None:  # fmt: skip
        try:
            spans = references(text)
        except ExpressionError as exc:
            self.add(11, file, step.path, str(exc), step.line)
            return
        for _s, _e, program in spans:
            reason = check_syntax(program)
            if reason:
                self.add(11, file, step.path, reason, step.line)
                continue
            for namespace, name in scope_names(program):
                if namespace not in NAMESPACES:
                    self.add(
                        10,
                        file,
                        step.path,
                        f"${{{program}}}: '.{namespace}' is not a "
                        f"namespace; a reference starts with one of "
                        f"{', '.join('.' + n for n in NAMESPACES)}",
                        step.line,
                    )
                elif namespace == "params" and not in_provider:
                    self.add(
                        10,
                        file,
                        step.path,
                        f"${{{program}}}: '.params' exists only inside a kind: Provider body",
                        step.line,
                    )
                elif name is not None and name not in declared[namespace]:
                    where = {
                        "vars": "a vars: block",
                        "outputs": "an as: or capture:",
                        "env": "the project's env: block",
                        "params": "the verb's params:",
                    }[namespace]
                    self.add(10, file, step.path, f"${{{program}}}: '.{namespace}.{name}' is "
                             f"not declared by {where}", step.line)  # fmt: skip

    # ------------------------------------------------------------ resources

    def scenario(self, s: Scenario) -> None:
        for i, tag in enumerate(s.tags):
            if not TAG.fullmatch(tag):
                self.add(
                    14,
                    s.file,
                    f"tags[{i}]",
                    f"tag {tag!r} must match [A-Za-z0-9_./-]+ to be usable in a tag expression",
                    _line(s.doc, "tags"),
                )
        outputs = {n for _sec, step in s.all_steps() for n in _bound(step)} | self.binds
        declared = {
            "vars": set(self.catalog.project.vars) | set(s.vars),
            "outputs": outputs,
            "env": set(self.catalog.project.env),
            "params": set(),
        }
        for section, step in s.all_steps():
            self.step(s.file, step, declared, False, section)
        from sei_assets.scenarios.dialects.lifecycle.runner import lifecycle_provider

        _, candidates = lifecycle_provider(s, self.catalog)
        if len(candidates) > 1:
            self.add(15, s.file, "providers", f"more than one configured provider implements "
                     f"up/down ({', '.join(candidates)}): the default teardown is ambiguous; "
                     "write a teardown:", _line(s.doc, "providers"))  # fmt: skip

    def composed(self) -> None:
        vars_ = set(self.catalog.project.vars)
        env = set(self.catalog.project.env)
        for verb in self.catalog.verbs.values():
            declared = {"vars": vars_, "outputs": self.binds, "env": env,
                        "params": set(verb.params)}  # fmt: skip
            for step in verb.steps:
                self.step(verb.file, step, declared, True)
                if step.run == verb.name or self._calls(step.run, verb.name, set()):
                    self.add(16, verb.file, step.path, f"{verb.name} calls itself (through "
                             f"{step.run})", step.line)  # fmt: skip

    def _calls(self, name: str, target: str, seen: set[str]) -> bool:
        verb = self.catalog.verbs.get(name)
        if verb is None or name in seen:
            return False
        return any(s.run == target or self._calls(s.run, target, seen | {name}) for s in verb.steps)


def _bound(step: Step) -> list[str]:
    return ([step.bind] if step.bind else []) + list(step.capture)


def _line(doc: Any, key: str) -> int | None:
    return getattr(doc, "lines", {}).get(key)


def validate(catalog: Catalog) -> list[Problem]:
    """Every problem of the catalog's files, errors and warnings, by file and rule."""
    checker = _Checker(catalog)
    for scenario in catalog.scenarios:
        checker.scenario(scenario)
    checker.composed()
    problems = catalog.problems + checker.problems
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.rule))


def blocking(problems: list[Problem], scenario: Scenario, catalog: Catalog) -> list[Problem]:
    """The errors that forbid running ``scenario``: its own file's, and those of every file
    that is not another scenario (the project, the providers, a file that does not parse)."""
    others = {f for f, kind in catalog.kinds.items() if kind == "Scenario"} - {str(scenario.file)}
    return [p for p in problems if p.severity == "error" and p.file not in others]
