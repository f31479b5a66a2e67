"""Process-profile scenarios (seed 002): loading and validation before any step runs.

The seed's shape: ``id``, ``profile_id``, ``profile_version``, ``steps`` (``name``, ``action``,
``actor {id, role}``, ``payload``, optional ``idempotency_key``, ``expectation``). Two optional
fields of this dialect: ``class`` (the required scenario class it covers; default the ``id``)
and ``system`` (the repository the plane runs on: ``resources`` under `resources/`, and
``files`` copied in, ``dest: source`` with sources relative to the scenario's folder or
``resources:`` for the system's own resources). A scenario is refused as a whole, naming the
file, the field path and the reason, when it breaks the shape, names another profile version,
an action the profile does not have, or an expectation field the plane does not answer.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.control.builtins import BUILTINS
from sei_assets.core.control.plane import ANSWER_FIELDS
from sei_assets.core.control.profile import (
    ROUTES,
    LoadedProfile,
    ProfileError,
    load_profile,
    unsafe_path,
)
from sei_assets.core.errors import SeiError
from sei_assets.core.paths import project_root, resources_dir

SCENARIOS_ENV = "SEI_SCENARIOS_DIR"
SUBDIR = "profiles"
SCHEMA_FILE = "profile_scenario.schema.json"
TOP = {"id", "profile_id", "profile_version", "steps", "class", "system", "description", "$schema"}
STEP = {"name", "action", "actor", "payload", "idempotency_key", "expectation"}


class ProfileScenarioError(SeiError):
    """A profile scenario that cannot run: the file, the field path and the reason."""

    def __init__(self, file: Path | str, field: str, reason: str, line: int | None = None):
        self.file, self.field, self.reason, self.line = str(file), field, reason, line
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {field or '<root>'}: {reason}")


@dataclass(frozen=True)
class Step:
    """One control request and what the plane must answer."""

    index: int
    name: str
    action: str
    actor: dict[str, str]
    payload: dict[str, Any]
    idempotency_key: str | None
    expectation: dict[str, Any]


@dataclass(frozen=True)
class ProfileScenario:
    """A validated profile scenario and the profile it runs against."""

    id: str
    scenario_class: str
    profile: LoadedProfile
    steps: tuple[Step, ...]
    system: dict[str, Any]
    path: Path

    @property
    def slug(self) -> str:
        """The id as a Dagster name."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.id)

    @property
    def job_name(self) -> str:
        """The Dagster job: `profile_<profile>__<id>`."""
        return f"profile_{self.profile.profile.id}__{self.slug}"

    def op_name(self, index: int) -> str:
        """The op of step ``index``."""
        action = re.sub(r"[^A-Za-z0-9_]", "_", self.steps[index].action)
        return f"{self.profile.profile.id}__{self.slug}__{index:02d}_{action}"

    def source(self, ref: str) -> Path:
        """A ``system.files`` source: the scenario's folder, or ``resources:`` of the system."""
        if ref.startswith("resources:"):
            return resources_dir() / self.system["resources"] / ref.removeprefix("resources:")
        return self.path.parent / ref


def scenarios_dir(directory: Path | None = None) -> Path:
    """The folder of profile scenarios: ``<dir>/profiles`` (`$SEI_SCENARIOS_DIR` or
    `scenarios/`)."""
    base = directory or Path(os.environ.get(SCENARIOS_ENV, project_root() / "scenarios"))
    return Path(base) / SUBDIR


def scenario_files(directory: Path | None = None) -> list[Path]:
    """The profile scenario files, sorted."""
    folder = scenarios_dir(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.endswith(".schema.json"))


def _line(text: str, needle: str, after: str | None = None) -> int | None:
    """The line of the first ``"needle"`` (after the text ``after`` when it is given)."""
    start = text.find(after) if after else 0
    pos = text.find(f'"{needle}"', max(start, 0))
    return text.count("\n", 0, pos) + 1 if pos >= 0 else None


def load_scenario(path: Path, profile: LoadedProfile | None = None) -> ProfileScenario:
    """Load and validate one scenario; ProfileScenarioError names what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileScenarioError(path, "", f"cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileScenarioError(path, "", f"not valid JSON: {exc.msg}", exc.lineno) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise ProfileScenarioError(path, "", f"not valid JSON: {exc}") from None

    def bad(
        field: str, reason: str, needle: str | None = None, after: str | None = None
    ) -> ProfileScenarioError:
        line = _line(text, needle, after) if needle else None
        return ProfileScenarioError(path, field, reason, line)

    if not isinstance(doc, dict):
        raise bad("", "expected an object with id, profile_id, profile_version, steps")
    for key in doc:
        if key not in TOP:
            raise bad(key, f"unknown field: expected {', '.join(sorted(TOP - {'$schema'}))}", key)
    for key in ("id", "profile_id", "profile_version"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise bad(key, "expected a non-empty text", key)
    if profile is None:
        try:
            profile = load_profile(doc["profile_id"])
        except ProfileError as exc:
            raise bad("profile_id", f"the profile cannot be loaded: {exc}", "profile_id") from None
    if profile.profile.id != doc["profile_id"]:
        raise bad("profile_id", f"expected {profile.profile.id!r}", "profile_id")
    if profile.profile.version != doc["profile_version"]:
        raise bad(
            "profile_version",
            f"profile {profile.profile.id} is at version {profile.profile.version}, "
            f"not {doc['profile_version']}",
            "profile_version",
        )
    scenario_class = doc.get("class", doc["id"])
    if not isinstance(scenario_class, str):
        raise bad("class", "expected a scenario class name", "class")
    system = _system(doc.get("system", {"resources": "loan"}), bad)
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        raise bad("steps", "expected a non-empty array of steps", "steps")
    loaded = tuple(_step(i, s, profile, bad) for i, s in enumerate(steps))
    scenario = ProfileScenario(doc["id"], scenario_class, profile, loaded, system, path)
    for dest, ref in system["files"].items():
        if not scenario.source(ref).is_file():
            raise bad(f"system.files[{dest}]", f"the source {ref!r} does not exist", dest)
    return scenario


def _system(value: Any, bad) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"resources", "files", "roster"}:
        raise bad(
            "system",
            "expected an object with `resources` and optional `files` and `roster`",
            "system",
        )
    resources = value.get("resources", "loan")
    if not isinstance(resources, str) or not (resources_dir() / resources).is_dir():
        raise bad("system.resources", f"expected a folder of resources/, got {resources!r}")
    files = value.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise bad("system.files", "expected an object of destination: source texts", "files")
    for dest in files:
        problem = unsafe_path(dest)
        if problem:
            raise bad(f"system.files[{dest}]", problem, dest)
    return {"resources": resources, "files": dict(files), "roster": _roster(value, bad)}


def _roster(value: dict[str, Any], bad) -> dict[str, list[str]]:
    """The system's roster: ``{"Name <email>": [roles]}`` (empty: none trusted)."""
    from sei_assets.core.decision_record import ROLE_FOR
    from sei_assets.core.governance import check_identity

    roster = value.get("roster", {})
    known = set(ROLE_FOR.values())
    if not isinstance(roster, dict):
        raise bad("system.roster", "expected an object of person: [roles]", "roster")
    for who, roles in roster.items():
        try:
            check_identity(who, "person")
        except SeiError as exc:
            raise bad(f"system.roster[{who}]", str(exc), who) from None
        if not isinstance(roles, list) or not roles or not set(roles) <= known:
            raise bad(
                f"system.roster[{who}]",
                f"expected a list of roles among {', '.join(sorted(known))}",
                who,
            )
    return {str(k): list(v) for k, v in roster.items()}


def _step(i: int, step: Any, profile: LoadedProfile, located) -> Step:
    where = f"steps[{i}]"
    if not isinstance(step, dict):
        raise located(where, "expected an object")
    name = step.get("name")
    after = json.dumps(name, ensure_ascii=False) if isinstance(name, str) else None

    def bad(field: str, reason: str, needle: str | None = None) -> ProfileScenarioError:
        return located(field, reason, needle or field.rsplit(".", 1)[-1], after)

    for key in step:
        if key not in STEP:
            raise bad(f"{where}.{key}", f"unknown field: expected {', '.join(sorted(STEP))}", key)
    for key in ("name", "action"):
        if not isinstance(step.get(key), str) or not step[key].strip():
            raise bad(f"{where}.{key}", "expected a non-empty text")
    if step["action"] not in profile.profile.actions and step["action"] not in BUILTINS:
        raise bad(
            f"{where}.action",
            f"{step['action']!r} is not an action of profile {profile.profile.id}: expected one "
            f"of {', '.join(sorted([*profile.profile.actions, *BUILTINS]))}",
            step["action"],
        )
    actor = step.get("actor")
    if (
        not isinstance(actor, dict)
        or set(actor) != {"id", "role"}
        or not all(isinstance(v, str) and v for v in actor.values())
    ):
        raise bad(f"{where}.actor", "expected an object with exactly `id` and `role` texts")
    if not isinstance(step.get("payload"), dict):
        raise bad(f"{where}.payload", "expected an object (the action's payload)")
    key = step.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not key):
        raise bad(f"{where}.idempotency_key", "expected a non-empty text")
    expect = step.get("expectation")
    if not isinstance(expect, dict):
        raise bad(f"{where}.expectation", "expected an object with at least status and route")
    for field in ("status", "route"):
        if field not in expect:
            raise bad(
                f"{where}.expectation.{field}",
                "required: assert at least status and route",
                "expectation",
            )
    for field in expect:
        if field not in ANSWER_FIELDS:
            raise bad(
                f"{where}.expectation.{field}",
                f"the plane does not answer it: expected one of {', '.join(ANSWER_FIELDS)}",
                field,
            )
    if expect["status"] not in ("ok", "nok"):
        raise bad(f"{where}.expectation.status", "expected 'ok' or 'nok'")
    if expect["route"] not in ROUTES:
        raise bad(f"{where}.expectation.route", f"expected one of {', '.join(ROUTES)}")
    return Step(i, step["name"], step["action"], actor, step["payload"], key, expect)
