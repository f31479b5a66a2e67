"""Actions every plane answers whatever its profile: the adoption of process profiles.

``profile.validate`` (payload ``profile``: a profile file in the repository, optional ``suite``:
a folder holding ``profiles/*.json``) refuses a profile with an invalid schema, missing docs or
an unsafe hook authority (Block), asks the user about an incomplete process model (AskUser),
and instructs the agent when the suite misses a required class (InstructAgent).
``profile.approve_for_use`` (payload ``by``) is management's alone and needs a green, signed
latest suite result. These are the classes the seed requires of generated process packs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sei_assets.core.control import suite as suites
from sei_assets.core.control.profile import LoadedProfile, ProfileError, load_profile, unsafe_path

#: (route, gate_id, gate_type, reason); None when the action holds.
Verdict = tuple[str, str, str, str] | None


def refusal(exc: ProfileError) -> tuple[str, str, str, str]:
    """The route, gate id, gate type and reason of a refused profile."""
    gate = exc.kind if exc.route == "AskUser" else f"{exc.kind}_blocked"
    return exc.route, gate, "process_conformance", str(exc)


def suite_classes(folder: Path, profile_id: str) -> set[str]:
    """The classes the scenario files of ``folder/profiles`` claim for ``profile_id`` (a
    coverage count; `sei profile validate` validates the files themselves)."""
    found: set[str] = set()
    for path in sorted((folder / "profiles").glob("*.json")):
        if path.name.endswith(".schema.json"):
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("profile_id") == profile_id:
            found.add(str(doc.get("class", doc.get("id"))))
    return found


def _inside(repo: Path, payload: dict[str, Any], key: str) -> Path | Verdict:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        return ("AskUser", "required_input", "process_conformance", f"payload.{key} is required")
    problem = unsafe_path(value)
    if problem:
        return ("Block", "materialization_preflight", "process_conformance", f"payload.{key}: "
                + problem)  # fmt: skip
    return repo / value


def validate(
    repo: Path, loaded: LoadedProfile, actor: dict[str, str], payload: dict[str, Any]
) -> Verdict:
    """``profile.validate``: the profile's schema, then its suite's coverage."""
    path = _inside(repo, payload, "profile")
    if not isinstance(path, Path):
        return path
    try:
        candidate = load_profile(path)
    except ProfileError as exc:
        return refusal(exc)
    if "suite" not in payload:
        return None
    folder = _inside(repo, payload, "suite")
    if not isinstance(folder, Path):
        return folder
    classes = suite_classes(folder, candidate.profile.id)
    missing = suites.missing_classes(classes, candidate.profile.generated)
    if missing:
        return (
            "InstructAgent",
            "missing_scenario_suite",
            "process_conformance",
            f"the scenario suite of {candidate.profile.id} misses: {', '.join(missing)}; "
            "write those scenarios",
        )
    return None


def approve_for_use(
    repo: Path, loaded: LoadedProfile, actor: dict[str, str], payload: dict[str, Any]
) -> Verdict:
    """``profile.approve_for_use``: the plane's own profile, by management, on its suite."""
    by = payload.get("by")
    if not isinstance(by, str) or not by.strip():
        return ("AskUser", "required_input", "process_conformance", "payload.by is required")
    answer = suites.approve_for_use(loaded, by, actor["role"])
    if answer["status"] == "ok":
        return None
    return answer["route"], answer["gate_id"], answer["gate_type"], answer["reason"]


BUILTINS: dict[str, tuple[Callable[..., Verdict], str]] = {
    "profile.validate": (validate, "Continue"),
    "profile.approve_for_use": (approve_for_use, "Continue"),
}
