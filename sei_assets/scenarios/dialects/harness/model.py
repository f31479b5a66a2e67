"""Scenario files: discovery, loading, and validation before any step runs.

A scenario is refused as a whole (a `ScenarioError` naming the file, the step index and the
reason) when it breaks the schema file (unknown verb, unknown argument or expect field, missing
argument, a path that could leave its folder) or a rule of its verbs (a `copy` source that is
absent or outside `resources/<resource_dir>/`).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core import safeload
from sei_assets.core.errors import ManifestError, SeiError
from sei_assets.core.paths import project_root, resources_dir

SCENARIOS_ENV = "SEI_SCENARIOS_DIR"
#: A scenario is a short script: anything larger is refused before it is parsed.
MAX_SCENARIO_BYTES = 1024 * 1024


class ScenarioError(SeiError):
    """A scenario file that cannot run. ``problems`` holds (step index or None, reason), the
    first one also as ``step`` and ``reason``; a step's reason starts with its verb."""

    def __init__(self, file: Path | str, problems: list[tuple[int | None, str]]) -> None:
        self.file = str(file)
        self.problems = problems
        self.step, self.reason = problems[0] if problems else (None, "")
        super().__init__(
            "\n".join(
                f"{self.file}: {reason}" if i is None else f"{self.file}: steps[{i}] {reason}"
                for i, reason in problems
            )
        )


@dataclass(frozen=True)
class Step:
    """One step: its verb, its arguments, its expectations and an optional description."""

    index: int
    do: str
    args: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file."""

    name: str
    description: str
    resource_dir: str
    steps: tuple[Step, ...]
    path: Path
    #: The commands an edited manifest may name (e.g. a `file` reproducer's `pipeline.command`).
    commands: tuple[str, ...] = ()

    @property
    def resources(self) -> Path:
        """`resources/<resource_dir>/` of the checkout."""
        return resources_dir() / self.resource_dir

    @property
    def slug(self) -> str:
        """The name as a Dagster name (a '-' becomes '_')."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)

    @property
    def job_name(self) -> str:
        """The Dagster job: `scenario_<name>`."""
        return f"scenario_{self.slug}"

    def op_name(self, index: int) -> str:
        """The op of step ``index``, e.g. `loan__14_run` (op names are unique across jobs)."""
        return f"{self.slug}__{index:02d}_{self.steps[index].do}"


def scenarios_dir() -> Path:
    """The scenario folder: `$SEI_SCENARIOS_DIR`, else `scenarios/` of the checkout."""
    return Path(os.environ.get(SCENARIOS_ENV) or project_root() / "scenarios")


def scenario_files(directory: Path | None = None) -> list[Path]:
    """The scenario files of ``directory`` (default: `scenarios_dir()`), by name."""
    d = Path(directory) if directory else scenarios_dir()
    return sorted(p for p in d.glob("*.json") if not p.name.endswith(".schema.json"))


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _reason(error: Any, rest: list[Any], verb: str | None) -> str:
    """A readable reason for one schema violation."""
    kind = error.validator
    inst = error.instance
    where = ".".join(map(str, rest))
    prefix = f"{where}: " if where else ""
    if kind == "additionalProperties" and isinstance(inst, dict):
        known = sorted(error.schema.get("properties", {}))
        extra = [k for k in inst if k not in known]
        if rest == ["expect"]:
            prefix, noun = "", "unknown expect field"
        elif not rest and verb:
            noun = "unknown argument"
        else:
            noun = "unknown field"
        return "; ".join(
            f"{prefix}{noun} '{k}'{_suggest(k, known)} (known: {', '.join(known)})" for k in extra
        )
    if kind == "required" and isinstance(inst, dict):
        missing = [k for k in error.validator_value if k not in inst]
        noun = "missing argument" if not rest and verb else "missing field"
        return "; ".join(f"{prefix}{noun} '{k}'" for k in missing)
    if kind == "enum" and rest == ["do"]:
        known = list(error.validator_value)
        return f"unknown verb {inst!r}{_suggest(str(inst), known)} (known: {', '.join(known)})"
    if kind == "pattern" and error.schema.get("title"):
        return f"{prefix}path {inst!r} leaves its folder: expected {error.schema['title']}"
    return f"{prefix}{error.message}"


@functools.cache
def _validator() -> Any:
    """The schema's validator, built once per process."""
    from jsonschema import Draft202012Validator

    from sei_assets.scenarios.dialects.harness.schema import load_schema

    return Draft202012Validator(load_schema())


def _schema_problems(doc: Any) -> list[tuple[int | None, str]]:
    validator = _validator()
    problems: list[tuple[int | None, str]] = []
    order = lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in e.path]  # noqa: E731
    for error in sorted(validator.iter_errors(doc), key=order):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
            step = doc["steps"][path[1]]
            verb = step.get("do") if isinstance(step, dict) else None
            reason = _reason(error, path[2:], verb if isinstance(verb, str) else None)
            problems.append((path[1], f"({verb or 'no verb'}): {reason}"))
        else:
            problems.append((None, _reason(error, path, None)))
    return list(dict.fromkeys(problems))


def _rule_problems(doc: dict[str, Any], path: Path) -> list[tuple[int | None, str]]:
    from sei_assets.scenarios.dialects.harness.verbs import VERBS

    problems: list[tuple[int | None, str]] = []
    if doc["name"] != path.stem:
        problems.append((None, f"name '{doc['name']}' differs from the file name '{path.stem}'"))
    resources = resources_dir() / doc["resource_dir"]
    if not resources.is_dir():
        problems.append((None, f"resource_dir '{doc['resource_dir']}': no folder {resources}"))
        return problems
    for i, step in enumerate(doc["steps"]):
        check = VERBS[step["do"]].check
        for reason in check(step, resources) if check else []:
            problems.append((i, f"({step['do']}): {reason}"))
    return problems


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file; raise `ScenarioError` before anything runs."""
    path = Path(path)
    try:
        doc = safeload.load_json(path, "scenario", max_bytes=MAX_SCENARIO_BYTES)
    except ManifestError as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ScenarioError(path, [(None, f"{where}{exc.expected}")]) from None
    problems = _schema_problems(doc) or _rule_problems(doc, path)
    if problems:
        raise ScenarioError(path, problems)
    steps = tuple(
        Step(
            i,
            s["do"],
            {k: v for k, v in s.items() if k not in ("do", "expect", "description")},
            dict(s.get("expect") or {}),
            s.get("description", ""),
        )
        for i, s in enumerate(doc["steps"])
    )
    return Scenario(
        doc["name"],
        doc["description"],
        doc["resource_dir"],
        steps,
        path,
        tuple(doc.get("commands") or ()),
    )
