"""Process profiles: the declared process of a control plane, loaded from YAML and hashed.

A profile names the actors' roles, the artifacts (files in the system's repository), the hooks
(commands with a declared authority: what they may read and write), the actions (who may submit
them, their payload schema, the hook and engine effect they run, what they produce, the route of
their success) and the gates (``process_conformance``, ``hard_rule``, ``approval``) with the route
each failure takes. It is refused as a whole, before anything runs, when it breaks the schema or
its own references: the error names the file, the field path, the line and what was expected.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sei_assets.core.errors import ManifestError
from sei_assets.core.paths import project_root

ROUTES = (
    "Continue",
    "AskUser",
    "InstructAgent",
    "Complete",
    "Block",
    "MaterializeMock",
    "Materialize",
)
GATE_TYPES = ("process_conformance", "hard_rule", "approval")
PAYLOAD_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "number": (int, float),
    "object": dict,
}
Route = Literal["Continue", "AskUser", "InstructAgent", "Complete", "Block", "Materialize"]
FailRoute = Literal["AskUser", "InstructAgent", "Block"]
DOC_ERRORS = ("missing", "string_too_short")
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class ProfileError(ManifestError):
    """A profile that cannot be used, located by file, field path and line. ``kind`` is the
    class of the problem (the gate that refuses it): ``invalid_profile_schema``,
    ``missing_docs``, ``unsafe_hook_authority`` or ``incomplete_process_model``."""

    def __init__(
        self,
        file: Path | str,
        key_path: str,
        expected: str,
        line: int | None = None,
        kind: str = "invalid_profile_schema",
    ) -> None:
        super().__init__(file, key_path, expected, line)
        self.kind = kind

    @property
    def route(self) -> str:
        """The route a refused profile takes: an incomplete model asks the user, else Block."""
        return "AskUser" if self.kind == "incomplete_process_model" else "Block"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Authority(_Strict):
    """What may be read and written (glob patterns relative to the repository root)."""

    reads: tuple[str, ...] = ("**",)
    writes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


class Artifact(_Strict):
    """A file an action requires or produces."""

    path: str
    description: str = ""

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        problem = unsafe_path(v)
        if problem:
            raise ValueError(problem)
        return v


class Hook(_Strict):
    """A command run by an action, with the authority it declares."""

    command: tuple[str, ...] = Field(min_length=1)
    flags: dict[str, str] = Field(default_factory=dict)
    authority: Authority
    timeout_seconds: int = Field(default=900, gt=0)
    ok_exit: tuple[int, ...] = (0,)
    description: str = ""


class PayloadField(_Strict):
    """One field of an action's payload."""

    type: Literal["string", "boolean", "number", "object"] = "string"
    required: bool = False
    description: str = ""


class Action(_Strict):
    """One action actors submit to the plane."""

    description: str = Field(min_length=1)
    roles: tuple[str, ...] = Field(min_length=1)
    payload: dict[str, PayloadField] = Field(default_factory=dict)
    hook: str | None = None
    effect: str = "record"
    produces: tuple[str, ...] = ()
    assets: tuple[str, ...] = ()
    route: Route = "Continue"


class Gate(_Strict):
    """A condition on some actions; when it does not hold the action takes ``route``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["process_conformance", "hard_rule", "approval"]
    actions: tuple[str, ...] = Field(min_length=1)
    requires: tuple[str, ...] = ()
    rule: str | None = None
    route: FailRoute
    reason: str = Field(min_length=1)


class Profile(_Strict):
    """A validated process profile."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    generated: bool = False
    roles: dict[str, str] = Field(min_length=1)
    authority: Authority
    artifacts: dict[str, Artifact] = Field(min_length=1)
    completion_artifact: str
    hooks: dict[str, Hook] = Field(default_factory=dict)
    actions: dict[str, Action] = Field(min_length=1)
    gates: tuple[Gate, ...] = ()


@dataclass(frozen=True)
class LoadedProfile:
    """A profile with where it came from and the sha256 of its exact bytes."""

    profile: Profile
    path: Path
    sha256: str

    @property
    def ref(self) -> dict[str, str]:
        """The identity a result document records."""
        p = self.profile
        return {"id": p.id, "version": p.version, "sha256": self.sha256, "file": str(self.path)}

    def gates_for(self, action: str) -> list[Gate]:
        """The gates of ``action``, in declared order."""
        return [g for g in self.profile.gates if action in g.actions]


def profiles_dir() -> Path:
    """The shipped profiles (`sei_assets/knowledge/profiles/`)."""
    return project_root() / "sei_assets" / "knowledge" / "profiles"


def unsafe_path(path: str) -> str | None:
    """Why ``path`` could leave the repository (absolute, ``..``, empty), or None."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or "\\" in path or ".." in pure.parts:
        return f"expected a path inside the repository, got {path!r}"
    return None


def allowed(path: str, patterns: tuple[str, ...]) -> bool:
    """True when ``path`` matches one of the ``patterns`` (fnmatch: ``*`` crosses folders too;
    ``dir/**`` also names ``dir`` itself)."""
    return any(fnmatch.fnmatchcase(path, p) or path == p.removesuffix("/**") for p in patterns)


def covers(outer: tuple[str, ...], inner: str) -> bool:
    """True when every path matching ``inner`` also matches one of ``outer``: the same pattern,
    a folder ``dir/**`` holding it, or (a plain path) a pattern it matches."""
    if unsafe_path(inner):
        return False
    for pattern in outer:
        if pattern == inner:
            return True
        if pattern.endswith("/**") and inner.startswith(pattern[:-2]):
            return True
        if not any(c in inner for c in "*?[") and fnmatch.fnmatchcase(inner, pattern):
            return True
    return False


def render(loc: tuple[Any, ...]) -> str:
    """``('actions', 'release.promote', 'route')`` as ``actions[release.promote].route``."""
    out = ""
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and "." in part):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def find_profile(ref: str | Path) -> Path:
    """A profile file: a path, else a shipped profile's id."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    shipped = profiles_dir() / f"{ref}.yaml"
    if not shipped.is_file():
        known = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.yaml")))
        raise ProfileError(ref, "", f"no such profile: expected a file or one of: {known}")
    return shipped


def load_profile(ref: str | Path) -> LoadedProfile:
    """Load, validate and hash a profile (a file or a shipped id); ProfileError when unusable."""
    from sei_assets.core import safeload
    from sei_assets.core.manifest import _line_for

    path = find_profile(ref)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(path, "", f"cannot read the profile: {exc.strerror}") from None
    try:
        data, lines = safeload.parse_yaml(path, safeload.decode(path, raw, "profile"), "profile")
    except ManifestError as exc:
        raise ProfileError(path, exc.key_path, exc.expected, exc.line) from None
    except UnicodeDecodeError:
        raise ProfileError(path, "", "expected UTF-8 text") from None
    if not isinstance(data, dict):
        raise ProfileError(path, "", "expected a mapping with id, version, actions...", 1)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        docs = loc[-1:] in (("description",), ("title",)) and first["type"] in DOC_ERRORS
        kind = "missing_docs" if docs else "invalid_profile_schema"
        message = "documentation is required here" if docs else first["msg"]
        line = _line_for(loc, lines)
        raise ProfileError(path, render(loc), message, line, kind) from None
    for loc, reason, kind in problems(profile):
        raise ProfileError(path, render(loc), reason, _line_for(loc, lines), kind)
    return LoadedProfile(profile, path, hashlib.sha256(raw).hexdigest())


def problems(profile: Profile) -> list[tuple[tuple[Any, ...], str, str]]:
    """The rules a profile breaks, each (field path, reason, kind); empty when it holds."""
    from simpleeval import EvalWithCompoundTypes

    from sei_assets.core.control.effects import EFFECTS

    found: list[tuple[tuple[Any, ...], str, str]] = []

    def incomplete(loc: tuple[Any, ...], reason: str) -> None:
        found.append((loc, f"incomplete process model: {reason}", "incomplete_process_model"))

    roles, artifacts, hooks = set(profile.roles), set(profile.artifacts), set(profile.hooks)
    if profile.completion_artifact not in artifacts:
        incomplete(("completion_artifact",), f"expected one of the artifacts {sorted(artifacts)}")
    for name, art in profile.artifacts.items():
        if not allowed(art.path, profile.authority.writes):
            found.append(
                (
                    ("artifacts", name, "path"),
                    "the path is outside the profile's authority.writes",
                    "invalid_profile_schema",
                )
            )
    for name, hook in profile.hooks.items():
        for i, pattern in enumerate(hook.authority.writes):
            if unsafe_path(pattern.replace("*", "x")) or not covers(
                profile.authority.writes, pattern
            ):
                found.append(
                    (
                        ("hooks", name, "authority", "writes", i),
                        f"unsafe hook authority: {pattern!r} is not within the profile's "
                        "authority.writes",
                        "unsafe_hook_authority",
                    )
                )
    completes = False
    for name, action in profile.actions.items():
        where = ("actions", name)
        if not _NAME.match(name):
            found.append(
                (where, "expected an action name such as release.promote", "invalid_profile_schema")
            )
        for i, role in enumerate(action.roles):
            if role not in roles:
                incomplete((*where, "roles", i), f"role {role!r} is not declared in roles")
        for i, produced in enumerate(action.produces):
            if produced not in artifacts:
                incomplete((*where, "produces", i), f"artifact {produced!r} is not declared")
        if action.hook is not None and action.hook not in hooks:
            incomplete((*where, "hook"), f"hook {action.hook!r} is not declared")
        if action.effect not in EFFECTS:
            found.append(
                (
                    (*where, "effect"),
                    f"unknown effect {action.effect!r}: expected one of {sorted(EFFECTS)}",
                    "invalid_profile_schema",
                )
            )
        completes = completes or action.route == "Complete"
    if not completes:
        incomplete(("actions",), "no action takes the Complete route")
    parser = EvalWithCompoundTypes()
    for i, gate in enumerate(profile.gates):
        where_gate = ("gates", i)
        for j, gated in enumerate(gate.actions):
            if gated not in profile.actions:
                incomplete((*where_gate, "actions", j), f"action {gated!r} is not declared")
        for j, required in enumerate(gate.requires):
            if required not in artifacts:
                incomplete((*where_gate, "requires", j), f"artifact {required!r} is not declared")
        if gate.rule is None and not gate.requires:
            found.append(
                (
                    where_gate,
                    "a gate needs `requires` artifacts or a `rule`",
                    "invalid_profile_schema",
                )
            )
        if gate.rule is not None:
            try:
                parser.parse(gate.rule)
            except SyntaxError as exc:
                found.append(
                    (
                        (*where_gate, "rule"),
                        f"not a valid expression: {exc.msg}",
                        "invalid_profile_schema",
                    )
                )
    return found
