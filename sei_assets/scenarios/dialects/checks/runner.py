"""Run a check scenario on one system: bind, collect, parse, compose, iterate, score.

Semantics (seed 003): tasks run in order and a failed task does not stop the later ones (they
are guarded by ``when``). A parse task fails when one of its checks fails; a collect task when
its command cannot run or exits with a code outside ``exit_codes``; a scenario task when any
check of the sub-scenario fails. A sub-scenario runs in its own scope with only its ``params``,
on the same system and platform; ``export`` promotes named child variables. ``for_each`` binds
its ``var`` for one iteration at a time, stops at the first failing iteration unless
``stop_on_fail: false``, and skips the task when the list is empty. Scoring is dichotomous: a
task earns its points only when every iteration passes.
Failure messages: the caller's ``error_overrides`` (by ``task.check`` or check id) win over a
parent task's ``on_fail``, which wins over the check's own ``on_fail``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.errors import SeiError
from sei_assets.scenarios.dialects.checks.collect import Call, collect
from sei_assets.scenarios.dialects.checks.model import CheckScenario, Parameter, Task
from sei_assets.scenarios.dialects.checks.notation import NotationError, Scope
from sei_assets.scenarios.dialects.checks.registry import MAX_DEPTH, CheckRegistry

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
_TAIL = 400


class BindError(SeiError):
    """Parameters that do not fit a scenario's declaration."""


@dataclass(frozen=True)
class Target:
    """A system a check runs on: its name, repository and platform (``pipeline.tool``)."""

    name: str
    repo: Path
    platform: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "repo": str(self.repo), "platform": self.platform}


def platform_of(repo: Path, manifest: str | None = None) -> str:
    """The platform of a system: its manifest's ``pipeline.tool``."""
    from sei_assets.core.manifest import load_manifest

    loaded = load_manifest(Path(repo) / manifest if manifest else Path(repo))
    return loaded.manifest.pipeline.tool


def registered_targets(names: list[str] | None = None, systems_file: Path | None = None) -> list:
    """The registered systems (`systems.yaml`), or only ``names``, as targets; a system whose
    repository is not seeded yet is an error naming `sei init` (seeding is an explicit step)."""
    from sei_assets.core.registry import load_registry, registered_by_name
    from sei_assets.core.workspace import require_repository

    given = Path(systems_file) if systems_file else None
    if names:
        # a system named on the command line may also be one that `sei register` put in the
        # user's own registry
        by_name = registered_by_name(given)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise SeiError(
                f"--system: unknown system(s) {', '.join(unknown)}: registered are "
                f"{', '.join(by_name) or 'none'}"
            )
        chosen = [by_name[n] for n in names]
    else:
        chosen = load_registry(given)
    if not chosen:
        raise SeiError(
            f"{systems_file or 'systems.yaml'}: no system is registered: nothing to check"
        )
    for e in chosen:
        require_repository(e.repo, e.seed)
    return [Target(e.name, e.repo, platform_of(e.repo, e.manifest)) for e in chosen]


# --------------------------------------------------------------------------- parameters


def _type_problem(param: Parameter, value: Any) -> str | None:
    kind = param.type
    if kind in ("string", "ip_address", "network_mask") and not isinstance(value, str):
        return f"expected a {kind}, got {type(value).__name__} {value!r}"
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"expected an integer, got {value!r}"
    if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        return f"expected a number, got {value!r}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if kind == "list" and not isinstance(value, list):
        return f"expected a list, got {type(value).__name__} {value!r}"
    if kind == "object" and not isinstance(value, dict):
        return f"expected a mapping, got {type(value).__name__} {value!r}"
    if kind == "ip_address":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"expected an IP address, got {value!r}"
    if kind == "network_mask":
        parts = value.split(".")
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{value}")
        except ValueError:
            parts = []
        if len(parts) != 4:
            return f"expected a dotted network mask such as 255.255.255.0, got {value!r}"
    return None


def bind(scenario: CheckScenario, given: dict[str, Any]) -> dict[str, Any]:
    """The parameters of one invocation, typed and completed with defaults."""
    problems = []
    for name in given:
        if name not in scenario.parameters:
            problems.append(
                f"unknown parameter {name!r}: {scenario.key} declares "
                f"{', '.join(scenario.parameters) or 'none'}"
            )
    bound: dict[str, Any] = {}
    for name, param in scenario.parameters.items():
        if name in given:
            value = given[name]
        elif param.default is not None:
            value = param.default
        elif param.required:
            problems.append(f"parameter {name!r} ({param.type}) is required")
            continue
        else:
            continue
        problem = _type_problem(param, value)
        if problem:
            problems.append(f"parameter {name!r}: {problem}")
        bound[name] = value
    if problems:
        raise BindError(f"{scenario.key}: " + "; ".join(problems))
    return bound


def parse_cli_params(scenario: CheckScenario, pairs: list[str]) -> dict[str, Any]:
    """``k=v`` words typed by the scenario's declaration (a list: ``a,b`` or YAML ``[a, b]``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise BindError(f"--param {pair!r}: expected NAME=VALUE")
        param = scenario.parameters.get(name)
        if param is None:
            raise BindError(
                f"--param {name}: unknown parameter of {scenario.key}: it declares "
                f"{', '.join(scenario.parameters) or 'none'}"
            )
        try:
            if param.type == "integer":
                out[name] = int(text)
            elif param.type == "number":
                out[name] = float(text)
            elif param.type == "boolean":
                if text.lower() not in ("true", "false"):
                    raise ValueError("expected true or false")
                out[name] = text.lower() == "true"
            elif param.type == "list":
                out[name] = (
                    yaml.safe_load(text)
                    if text.strip().startswith("[")
                    else [w.strip() for w in text.split(",") if w.strip()]
                )
            elif param.type == "object":
                out[name] = yaml.safe_load(text)
            else:
                out[name] = text
        except (ValueError, yaml.YAMLError) as exc:
            raise BindError(f"--param {name}: expected a {param.type}: {exc}") from None
    return out


# --------------------------------------------------------------------------- execution


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _TAIL:
        return value[:_TAIL] + f"... ({len(value)} characters)"
    return value


def _label(item: Any) -> str:
    if isinstance(item, dict):
        return ",".join(str(v) for v in item.values())
    return str(item)


class Runner:
    """Runs scenarios of one registry, with the caller's ``error_overrides``."""

    def __init__(self, registry: CheckRegistry, error_overrides: dict[str, str] | None = None):
        self.registry = registry
        self.overrides = dict(error_overrides or {})
        self.repo = Path(".")

    def run(self, scenario: CheckScenario, target: Target, params: dict[str, Any]) -> dict:
        """The result of ``scenario`` on ``target``: tasks, failures, score, exports."""
        self.repo = Path(target.repo)
        scope = Scope(target.name, target.platform, bind(scenario, params))
        scope.filters = self.registry.filters
        tasks, failures = self._scenario(scenario, scope, 0, [])
        total = sum(t["points"] for t in tasks)
        earned = sum(t["earned"] for t in tasks)
        for f in failures:
            f["system"] = target.name
        return {
            "system": target.name,
            "platform": target.platform,
            "repo": str(target.repo),
            "scenario": scenario.key,
            "params": scope.params,
            "passed": not failures,
            "score": {"earned": earned, "total": total},
            "tasks": tasks,
            "failures": failures,
            "exports": {
                name: _short(scope.variables.get(var)) for name, var in scenario.export.items()
            },
            "variables": {f"{target.name}.{k}": _short(v) for k, v in scope.variables.items()},
        }

    def _scenario(
        self, scenario: CheckScenario, scope: Scope, depth: int, path: list[str]
    ) -> tuple[list[dict], list[dict]]:
        if scenario.platforms and scope.platform not in scenario.platforms:
            failure = {
                "task": path[0] if path else None,
                "at": " > ".join([*path, scenario.key]),
                "check": None,
                "message": f"{scenario.key} does not support the platform {scope.platform} of "
                f"{scope.system} (it supports {', '.join(scenario.platforms)})",
                "overridden": False,
            }
            return [], [failure]
        results, failures = [], []
        for task in scenario.tasks:
            result = self._task(scenario, task, scope, depth, [*path, task.id])
            results.append(result)
            failures += result["failures"]
        return results, failures

    def _task(
        self, scenario: CheckScenario, task: Task, scope: Scope, depth: int, path: list[str]
    ) -> dict:
        result: dict[str, Any] = {
            "task": task.id,
            "action": task.action,
            "status": PASSED,
            "points": task.points,
            "earned": 0.0,
            "failures": [],
        }
        try:
            if task.when and not scope.condition(task.when):
                result.update(status=SKIPPED, reason=f"when {task.when!r} is false")
                result["earned"] = task.points
                return result
            if task.for_each is None:
                result.update(self._once(scenario, task, scope, depth, path))
            else:
                self._iterate(scenario, task, scope, depth, path, result)
        except NotationError as exc:
            result["failures"] = [self._failure(scope, path, None, None, task, str(exc))]
        if result["failures"]:
            result["status"] = FAILED
        else:
            result["earned"] = task.points
        return result

    def _iterate(
        self,
        scenario: CheckScenario,
        task: Task,
        scope: Scope,
        depth: int,
        path: list[str],
        result: dict,
    ) -> None:
        each = task.for_each
        assert each is not None
        items = scope.value(each.source)
        if not isinstance(items, list):
            raise NotationError(f"for_each.in resolved to {items!r}: expected a list")
        if not items:
            result.update(status=SKIPPED, reason="for_each.in is an empty list")
            return
        iterations, failures = [], []
        had = each.var in scope.variables
        saved = scope.variables.get(each.var)
        for item in items:
            scope.variables[each.var] = item
            label = f"{task.id}[{_label(item)}]"
            try:
                once = self._once(scenario, task, scope, depth, [*path[:-1], label])
            except NotationError as exc:
                once = {
                    "failures": [
                        self._failure(scope, [*path[:-1], label], None, None, task, str(exc))
                    ]
                }
            once["item"] = item
            once["status"] = FAILED if once["failures"] else PASSED
            iterations.append(once)
            failures += once["failures"]
            if once["failures"] and each.stop_on_fail:
                break
        if had:
            scope.variables[each.var] = saved
        else:
            scope.variables.pop(each.var, None)
        result["iterations"] = iterations
        result["failures"] = failures

    def _once(
        self, scenario: CheckScenario, task: Task, scope: Scope, depth: int, path: list[str]
    ) -> dict:
        if task.action == "collect":
            return self._collect(task, scope, path)
        if task.action == "parse":
            return self._parse(task, scope, path)
        return self._invoke(task, scope, depth, path)

    # ------------------------------------------------------------------ failures

    def _failure(
        self,
        scope: Scope,
        path: list[str],
        check_id: str | None,
        own: str | None,
        task: Task,
        default: str,
    ) -> dict:
        """A failure with its message: caller override, else the check's (or task's) on_fail,
        else ``default``."""
        keys = [f"{task.id}.{check_id}", check_id] if check_id else [task.id]
        override = next((self.overrides[k] for k in keys if k and k in self.overrides), None)
        template = override or own or (task.on_fail if task.action != "scenario" else None)
        if default.startswith("refused: "):  # the rule's refusal is never reworded
            override = template = None
        message = scope.render(template, strict=False) if template else default
        return {
            "task": path[0].split("[")[0] if path else task.id,
            "at": " > ".join(path),
            "check": check_id,
            "message": message,
            "overridden": override is not None,
        }

    # ------------------------------------------------------------------ actions

    def _collect(self, task: Task, scope: Scope, path: list[str]) -> dict:
        call = task.collector_for(scope.platform)
        if call is None:
            default = f"{task.id}: no collector for the platform {scope.platform}"
            return {"failures": [self._failure(scope, path, None, None, task, default)]}
        rendered = Call(call.name, {k: scope.render(v) for k, v in call.params.items()})
        got = collect(rendered, self.repo, scope.platform, task.timeout)
        argv = got.argv
        info: dict[str, Any] = {
            "collector": rendered.describe(),
            "command": argv,
            "exit_code": got.exit_code,
            "seconds": got.seconds,
            "stdout_tail": got.stdout[-_TAIL:],
            "stderr_tail": got.stderr[-_TAIL:],
        }
        problem = got.error
        if problem is None and got.exit_code not in task.exit_codes:
            problem = f"exit {got.exit_code}: {got.stderr.strip()[-_TAIL:]}"
        if problem:
            default = f"could not collect {rendered.describe()} on {scope.system}: {problem}"
            if got.refused:  # a value that breaks the untrusted-value rule: say why, always
                default = f"refused: {default}"
            failure = self._failure(scope, path, None, None, task, default)
            failure["refused"] = got.refused
            info["failures"] = [failure]
            return info
        if task.store:
            scope.variables[task.store] = got.stdout
        info["failures"] = []
        return info

    def _parse(self, task: Task, scope: Scope, path: list[str]) -> dict:
        assert task.input is not None
        found, text, rest = scope.lookup(task.input[1:])
        if not found or rest:
            default = f"{task.input} was not collected on {scope.system}"
            return {
                "checks": [],
                "failures": [self._failure(scope, path, None, None, task, default)],
            }
        text = "" if text is None else str(text)
        checks, failures = [], []
        for check in task.checks:
            record: dict[str, Any] = {"id": check.id, "expected": check.expected}
            try:
                if check.when and not scope.condition(check.when):
                    record.update(status=SKIPPED, reason=f"when {check.when!r} is false")
                    checks.append(record)
                    continue
                record["description"] = scope.render(check.description, strict=False)
                pattern = check.pattern_for(scope.platform)
                if not pattern:
                    raise NotationError(f"no regex for the platform {scope.platform}")
                rendered = scope.render(pattern, escape_vars=True)
                record["regex"] = rendered
                match = re.search(rendered, text, check.flags)
            except (NotationError, re.error) as exc:
                record.update(status=FAILED, matched=None)
                failures.append(
                    self._failure(scope, path, check.id, check.on_fail, task, f"{check.id}: {exc}")
                )
                record["message"] = failures[-1]["message"]
                checks.append(record)
                continue
            passed = (match is not None) == (check.expected == "match")
            record.update(status=PASSED if passed else FAILED, matched=match is not None)
            if check.set:
                scope.variables[check.set] = passed
            if match is not None:
                for var, group in check.capture.items():
                    try:
                        scope.variables[var] = match.group(group)
                    except IndexError:  # an optional group that did not take part
                        pass
            if not passed:
                default = (
                    f"{check.id}: expected {check.expected.replace('_', ' ')} of /{rendered}/ "
                    f"in {task.input} on {scope.system}"
                )
                failures.append(self._failure(scope, path, check.id, check.on_fail, task, default))
                record["message"] = failures[-1]["message"]
            checks.append(record)
        return {"checks": checks, "failures": failures}

    def _invoke(self, task: Task, scope: Scope, depth: int, path: list[str]) -> dict:
        assert task.scenario is not None
        child = self.registry.find(task.scenario)
        if isinstance(child, str):
            return {"failures": [self._failure(scope, path, None, None, task, child)]}
        if depth + 1 > MAX_DEPTH:
            default = f"{child.key}: composition deeper than {MAX_DEPTH}"
            return {"failures": [self._failure(scope, path, None, None, task, default)]}
        params = {name: scope.value(raw) for name, raw in task.params.items()}
        try:
            bound = bind(child, params)
        except BindError as exc:
            return {"failures": [self._failure(scope, path, None, None, task, str(exc))]}
        inner = scope.child(bound)
        tasks, failures = self._scenario(child, inner, depth + 1, [*path, child.key])
        if task.on_fail:
            message = scope.render(task.on_fail, strict=False)
            for f in failures:
                if not f["overridden"] and not f.get("refused"):
                    f["message"] = message
        for mine, theirs in task.export.items():
            var = child.export.get(theirs)
            if var is not None and var in inner.variables:
                scope.variables[mine] = inner.variables[var]
        return {
            "scenario": child.key,
            "params": bound,
            "children": tasks,
            "failures": failures,
        }


def run_on_targets(
    registry: CheckRegistry,
    scenario: CheckScenario,
    targets: list[Target],
    params: dict[str, Any],
    error_overrides: dict[str, str] | None = None,
) -> list[dict]:
    """``scenario`` on every target, in order."""
    return [run_one(registry, scenario, t, params, error_overrides) for t in targets]


def run_one(
    registry: CheckRegistry,
    scenario: CheckScenario,
    target: Target,
    params: dict[str, Any],
    error_overrides: dict[str, str] | None = None,
) -> dict:
    """``scenario`` on one target."""
    return Runner(registry, error_overrides).run(scenario, target, params)
