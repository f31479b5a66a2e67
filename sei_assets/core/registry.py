"""The registered AI systems, as data: `systems.yaml` (or `$SEI_SYSTEMS_FILE`).

Each entry names a system and its repository; `seed` optionally names shipped resources to
create the repository from when it does not exist yet. Adding a system adds no Python.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


_KEYS = ("name", "repo", "seed", "manifest")


def _path_problem(value: str) -> str | None:
    """Why ``value`` cannot name a place on disk (a NUL, a name or a whole path longer than a
    file system holds), or None."""
    if "\x00" in value:
        return "a path may not hold a NUL character"
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) > 4096 or any(len(part) > 255 for part in raw.split(b"/")):
        return "a path longer than a file system holds (255 bytes a name, 4096 in all)"
    return None


def _check(
    doc: object, lines: dict[tuple[Any, ...], int], path: Path
) -> list[dict[str, str | None]]:
    """The entries of a parsed registry, checked by hand (no pydantic: `sei status --all`
    reads the registry on the lean path); an error names the file, the line and the key."""

    def fail(loc: tuple[Any, ...], message: str) -> SeiError:
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{path}:{line}" if line else str(path)
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        return SeiError(f"{where}: {dotted + ': ' if dotted else ''}{message}")

    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise fail((), "must be a mapping with one key, systems")
    for key in doc:
        if key != "systems":
            raise fail((key,), "unknown key: expected systems")
    items = doc.get("systems") or []
    if not isinstance(items, list):
        raise fail(("systems",), "must be a list of entries")
    specs = []
    for i, item in enumerate(items):
        loc = ("systems", i)
        if not isinstance(item, dict):
            raise fail(loc, "must be a mapping (name, repo, seed, manifest)")
        for key in item:
            if key not in _KEYS:
                raise fail((*loc, key), "unknown key: expected name, repo, seed, manifest")
        for key in ("name", "repo"):
            if key not in item:
                raise fail((*loc, key), "Field required")
        for key in _KEYS:
            if key in item and not isinstance(item[key], str):
                if item[key] is None and key in ("seed", "manifest"):
                    continue
                raise fail((*loc, key), "must be text")
        for key in ("repo", "seed"):
            value = item.get(key)
            problem = _path_problem(os.path.expandvars(value)) if isinstance(value, str) else None
            if problem:
                raise fail((*loc, key), problem)
        if isinstance(item.get("manifest"), str):
            from sei_assets.core.untrusted import relative_path

            try:
                relative_path(item["manifest"])
            except SeiError as exc:
                where = "the manifest's file in the repository"
                raise fail((*loc, "manifest"), f"{exc} ({where})") from None
        if not _NAME.fullmatch(item["name"]):
            raise fail(
                (*loc, "name"),
                "must be letters, digits and underscores, starting with a letter (it becomes "
                "an asset key prefix)",
            )
        specs.append({k: item.get(k) for k in _KEYS})
    return specs


def load_registry(path: Path | None = None) -> list[SystemEntry]:
    """Read and validate the registry; relative paths are relative to the registry file."""
    path = path or registry_path()
    what = "system registry"
    doc, lines = safeload.parse_yaml(path, safeload.read_text(path, what), what)
    specs = _check(doc, lines, path)
    base = path.parent
    entries, seen = [], set()
    for i, item in enumerate(specs):
        name, repo, seed = str(item["name"]), str(item["repo"]), item["seed"]
        if name in seen:
            line = lines.get(("systems", i, "name")) or lines.get(("systems", i))
            where = f"{path}:{line}" if line else str(path)
            raise SeiError(f"{where}: systems[{i}].name: system {name!r} is registered twice")
        seen.add(name)
        entries.append(
            SystemEntry(
                name,
                (base / os.path.expandvars(repo)).resolve(),
                (base / seed).resolve() if seed else None,
                item["manifest"],
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


def user_registry() -> Path:
    """The user's own registry, outside any checkout: `$XDG_CONFIG_HOME/sei-assets/systems.yaml`
    (default `~/.config/...`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sei-assets" / "systems.yaml"


def entry_name(system_name: str) -> str:
    """A manifest's `system.name` as a registry name (an asset-key prefix)."""
    slug = re.sub(r"[^A-Za-z0-9_]", "_", system_name)
    return slug if slug[:1].isalpha() else f"s_{slug}"


@dataclass(frozen=True)
class Registration:
    """What `sei register` did: the entry, the registry file and whether it was new."""

    entry: SystemEntry
    registry: Path
    added: bool


def register(repo: Path, registry: Path, name: str | None = None) -> Registration:
    """Add the system at ``repo`` to ``registry`` (created when missing): under ``name``, else
    its manifest's `system.name` as a key prefix. Registering it again under the same name is
    a no-op; another system's name, or the same repository under another name, is refused.
    The file's text is kept (the entry is appended) when the result reads back as intended;
    else it is rewritten as plain YAML. One atomic write."""
    from sei_assets.core.fsutil import atomic_write
    from sei_assets.core.manifest import load_manifest

    repo = Path(repo).resolve()
    loaded = load_manifest(repo)  # a manifest that does not load is not registered
    name = name or entry_name(loaded.manifest.system.name)
    if not _NAME.fullmatch(name):
        raise SeiError(
            f"--name: {name!r} must be letters, digits and underscores, starting with a letter"
        )
    registry = Path(registry).absolute()
    entries = load_registry(registry) if registry.exists() else []
    for e in entries:
        if e.name == name and e.repo == repo:
            return Registration(e, registry, False)
        if e.name == name:
            raise SeiError(f"{registry}: {name!r} is already registered for {e.repo}")
        if e.repo == repo:
            raise SeiError(f"{registry}: {repo} is already registered as {e.name!r}")
    entry = SystemEntry(name, repo)
    text = safeload.read_text(registry, "system registry") if registry.exists() else ""
    item = f"  - name: {name}\n    repo: {json.dumps(str(repo))}\n"
    appended = (text if text.endswith("\n") or not text else text + "\n") + item
    if not text.strip():
        appended = "# AI systems registered with `sei register`.\nsystems:\n" + item
    if not _reads_as(appended, registry, [*entries, entry]):
        import yaml

        doc = {"systems": [{"name": e.name, "repo": str(e.repo)} for e in [*entries, entry]]}
        appended = yaml.safe_dump(doc, sort_keys=False)
    atomic_write(registry, appended)
    return Registration(entry, registry, True)


def _reads_as(text: str, registry: Path, expected: list[SystemEntry]) -> bool:
    """Whether ``text``, as the registry at ``registry``, gives exactly ``expected``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "systems.yaml"
        probe.write_text(text, encoding="utf-8")
        try:
            got = load_registry(probe)
        except SeiError:
            return False
    # the names in order, and the new entry's (absolute) repository: the other entries' relative
    # paths resolve against the probe's folder here, not the registry's
    names = [e.name for e in got] == [e.name for e in expected]
    return names and bool(got) and got[-1].repo == expected[-1].repo


def registries(systems_file: Path | None = None) -> list[Path]:
    """Where a system's name is looked up, in order: ``systems_file`` alone when given, else
    the registry in force (`$SEI_SYSTEMS_FILE`, else the checkout's `systems.yaml`), then the
    user's own registry (where `sei register` writes by default) when it exists."""
    if systems_file is not None:
        return [Path(systems_file)]
    places = [registry_path()]
    user = user_registry()
    if user.is_file() and user.resolve() != places[0].resolve():
        places.append(user)
    return places


def registered_by_name(systems_file: Path | None = None) -> dict[str, SystemEntry]:
    """Every system of :func:`registries` by name (the first registry naming it wins); a
    registry file that does not exist holds none, unless it was given."""
    found: dict[str, SystemEntry] = {}
    for place in registries(systems_file):
        if place.is_file() or systems_file is not None:
            for entry in load_registry(place):
                found.setdefault(entry.name, entry)
    return found


def find_system(name: str, systems_file: Path | None = None) -> SystemEntry:
    """The system registered under ``name`` (see :func:`registries`); an unknown name is bad
    input that lists the registered names and where they were looked up."""
    found = registered_by_name(systems_file)
    if name in found:
        return found[name]
    places = ", ".join(str(p) for p in registries(systems_file))
    raise SeiError(
        f"--system: no system is registered as {name!r} (registered: "
        f"{', '.join(found) or 'none'}; in {places})"
    )
