"""The registered AI systems, as data: `systems.yaml` (or `$SEI_SYSTEMS_FILE`).

Each entry names a system and its repository; `seed` optionally names shipped resources to
create the repository from when it does not exist yet. Adding a system adds no Python.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sei_assets.core import safeload
from sei_assets.core.errors import SeiError
from sei_assets.core.paths import project_root

SYSTEMS_ENV = "SEI_SYSTEMS_FILE"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SystemEntry:
    """One registered AI system."""

    name: str
    repo: Path
    seed: Path | None = None
    manifest: str | None = None

    def manifest_path(self, base: Path | None = None) -> Path:
        """Where the manifest is looked for under ``base`` (default: the repository): the
        named file, else the folder (the loader finds sei.yaml / venth.yaml / froga.yaml)."""
        base = self.repo if base is None else base
        return base / self.manifest if self.manifest else base


def registry_path() -> Path:
    """The registry file in force."""
    return Path(os.environ.get(SYSTEMS_ENV, project_root() / "systems.yaml"))


class _SystemSpec(BaseModel):
    """One entry of `systems.yaml` as written."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME.pattern)
    repo: str
    seed: str | None = None
    manifest: str | None = None


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    systems: list[_SystemSpec] = Field(default_factory=list)


def _explain(error: dict) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    if error["type"] == "string_pattern_mismatch":
        return (
            f"{where.lstrip('.')}: must be letters, digits and underscores, starting with a "
            "letter (it becomes an asset key prefix)"
        )
    if error["type"] == "extra_forbidden":
        return f"{where.lstrip('.')}: unknown key: expected name, repo, seed, manifest"
    return f"{where.lstrip('.')}: {error['msg']}"


def load_registry(path: Path | None = None) -> list[SystemEntry]:
    """Read and validate the registry; relative paths are relative to the registry file."""
    path = path or registry_path()
    what = "system registry"
    doc, lines = safeload.parse_yaml(path, safeload.read_text(path, what), what)
    try:
        spec = _RegistryFile.model_validate(doc or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{path}:{line}" if line else str(path)
        raise SeiError(f"{where}: {_explain(first)}") from None
    base = path.parent
    entries, seen = [], set()
    for i, item in enumerate(spec.systems):
        if item.name in seen:
            line = lines.get(("systems", i, "name")) or lines.get(("systems", i))
            where = f"{path}:{line}" if line else str(path)
            raise SeiError(f"{where}: systems[{i}].name: system {item.name!r} is registered twice")
        seen.add(item.name)
        entries.append(
            SystemEntry(
                item.name,
                (base / os.path.expandvars(item.repo)).resolve(),
                (base / item.seed).resolve() if item.seed else None,
                item.manifest,
            )
        )
    return entries


def repository_identity(repo: Path) -> str:
    """What keys an unregistered repository as a system of its own: a digest of its root
    commit and its resolved path (a clone elsewhere, or another history, is another system)."""
    import hashlib

    from sei_assets.core.gitutil import root_commit

    repo = Path(repo).resolve()
    return hashlib.sha256(f"{root_commit(repo)}\0{repo}".encode()).hexdigest()


def registered_at(repo: Path, entries: list[SystemEntry]) -> SystemEntry | None:
    """The entry registered at ``repo``'s path, if any."""
    repo = Path(repo).resolve()
    return next((e for e in entries if e.repo.resolve() == repo), None)
