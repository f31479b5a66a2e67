"""Which version of a system a piece of evidence is about, named for people: `V2 (a1b2c3d)`.

A version is a treatment in force: the newest commit that changed the treatment inputs (the
lock's `impl` edge: training code, params, pipeline definition). Its number counts the commits
that changed them up to HEAD, so the first treatment is V1 and each later one adds one; a
treatment with uncommitted changes is the next number, `uncommitted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sei_assets.core import gitutil
from sei_assets.core.errors import SeiError

UNCOMMITTED = "uncommitted"
UNVERSIONED = "unversioned"


@dataclass(frozen=True)
class Version:
    """A treatment version: its number (None when unknown) and its commit's short id, or
    `uncommitted` / `unversioned`."""

    number: int | None
    commit: str

    @property
    def label(self) -> str:
        """`V2 (a1b2c3d)`, `V3 (uncommitted)`, `V? (unversioned)`."""
        return f"V{self.number if self.number is not None else '?'} ({self.commit})"


def treatment_paths(repo: Path) -> list[str]:
    """The treatment inputs relative to ``repo`` (the lock's `impl` edge); [] when unknown."""
    from sei_assets.core import lock
    from sei_assets.core.layout import MANIFEST_NAMES

    for name in MANIFEST_NAMES:
        path = repo / name
        if path.is_file():
            try:
                files = lock.section_inputs(
                    repo, path, lock.read_raw_manifest(path)
                ).treatment_files
            except (SeiError, OSError, ValueError):
                return []
            root = repo.resolve()
            return sorted(
                f.resolve().relative_to(root).as_posix()
                for f in files
                if f.resolve().is_relative_to(root)
            )
    return []


def treatment_version(repo: Path, paths: list[str] | None = None) -> Version:
    """The treatment version of ``repo`` now (``paths``: the treatment inputs, else read)."""
    paths = treatment_paths(repo) if paths is None else paths
    if not paths or not (repo / ".git").exists() or not gitutil.head(repo):
        return Version(None, UNVERSIONED)
    try:
        count = gitutil.git(repo, "rev-list", "--count", "HEAD", "--", *paths, check=False)
        number = int(count) if count.strip().isdigit() else 0
        dirty = gitutil.git(
            repo, "status", "--porcelain", "--untracked-files=all", "--", *paths, check=False
        )
        if dirty:
            return Version(number + 1, UNCOMMITTED)
        short = gitutil.git(repo, "log", "-1", "--format=%h", "--abbrev=7", "--", *paths)
    except SeiError:
        return Version(None, UNVERSIONED)
    return Version(number or None, short.strip() or UNVERSIONED)
