"""The registered AI systems, as data: `systems.yaml` (or `$SEI_SYSTEMS_FILE`).

Each entry names a system and its repository; `seed` optionally names shipped resources to
create the repository from when it does not exist yet. Adding a system adds no Python.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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


def registry_path() -> Path:
    """The registry file in force."""
    return Path(os.environ.get(SYSTEMS_ENV, project_root() / "systems.yaml"))


def load_registry(path: Path | None = None) -> list[SystemEntry]:
    """Read the registry; relative paths are relative to the registry file."""
    path = path or registry_path()
    what = "system registry"
    doc, lines = safeload.parse_yaml(path, safeload.read_text(path, what), what)
    doc = doc or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("systems") or [], list):
        raise SeiError(f"{path}: systems: expected a mapping with a list of systems")
    base = path.parent
    entries, seen = [], set()
    for i, item in enumerate(doc.get("systems") or []):
        line = lines.get(("systems", i))
        where = f"{path}:{line}: systems[{i}]" if line else f"{path}: systems[{i}]"
        if not isinstance(item, dict) or "name" not in item or "repo" not in item:
            raise SeiError(f"{where}: expected a mapping with at least `name` and `repo`")
        unknown = set(item) - {"name", "repo", "seed", "manifest"}
        if unknown:
            raise SeiError(
                f"{where}: unknown key(s) {sorted(unknown)}: expected name, repo, seed, manifest"
            )
        for key in ("name", "repo", "seed", "manifest"):
            if key in item and not isinstance(item[key], str | None if key != "name" else str):
                raise SeiError(f"{where}.{key}: expected text, got {type(item[key]).__name__}")
        name = str(item["name"])
        if not _NAME.match(name):
            raise SeiError(
                f"{where}.name: {name!r} must be letters, digits and underscores "
                "(it becomes an asset key prefix)"
            )
        if name in seen:
            raise SeiError(f"{where}.name: system {name!r} is registered twice")
        seen.add(name)
        seed = item.get("seed")
        entries.append(
            SystemEntry(
                name,
                (base / os.path.expandvars(str(item["repo"]))).resolve(),
                (base / seed).resolve() if seed else None,
                item.get("manifest"),
            )
        )
    return entries
