"""One run per repository at a time: an exclusive `flock` on a lock file, holder pid inside.

The file is `sei-run.lock` in the repository's git folder (`.git/`, or the folder a worktree's
`.git` file names), else `.sei-run.lock` at the repository root: never in `.sei/`, so that a run
that fails before writing evidence leaves no evidence folder behind.

Re-entrant within a process (the CLI holds it around a Dagster run whose steps take it again,
possibly from another thread).
The kernel releases the lock when its holder dies, so a killed run never leaves it stale.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError

LOCK_FILE = "sei-run.lock"
_guard = threading.Lock()
_held: dict[str, list[Any]] = {}  # resolved repo -> [fd, depth]


class RunLocked(SeiError):
    """Another process is running on this repository (and we were told not to wait)."""


def lock_path(repo: Path) -> Path:
    """The lock file of ``repo`` (see the module doc)."""
    repo = Path(repo)
    git = repo / ".git"
    if git.is_dir():
        return git / LOCK_FILE
    if git.is_file():
        try:
            text = git.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.startswith("gitdir:"):
            folder = Path(text[len("gitdir:") :].strip())
            folder = folder if folder.is_absolute() else repo / folder
            if folder.is_dir():
                return folder / LOCK_FILE
    return repo / f".{LOCK_FILE}"


def holder(repo: Path) -> int | None:
    """The pid recorded by the last holder of the lock, if any."""
    try:
        text = lock_path(repo).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def repo_lock(
    repo: Path, wait: bool = True, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the repository's run lock; wait for it (telling ``notify``) or raise RunLocked."""
    key = str(Path(repo).resolve())
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    path = lock_path(repo)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SeiError(f"cannot open the run lock {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = holder(repo)
            who = f"pid {pid}" if pid else "another process"
            if not wait:
                raise RunLocked(
                    f"{repo}: a run is in progress ({who} holds {path}); "
                    "wait for it, or run again without --no-wait"
                ) from None
            if notify:
                notify(f"waiting for the run of {who} on {repo} to finish ({path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        with _guard:
            _held[key] = [fd, 1]
        try:
            yield
        finally:
            with _guard:
                del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the flock
