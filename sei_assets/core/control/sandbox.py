"""Where a profile's hook runs: a disposable copy of the repository, inside an OS sandbox when
the platform offers one.

The hook works on a copy of the repository. With bubblewrap (`bwrap`, Debian's `bubblewrap`)
the copy is mounted at the repository's own path, every other file of the machine is
read-only, the network is cut (``--unshare-net``) and the hook's scratch (``TMPDIR``, ``HOME``,
the state folder) is a private folder thrown away afterwards. Without bubblewrap the hook runs
in the copy itself (its ``{repo}`` is the copy). Either way only the files the hook's authority
declares (``writes``) are copied back, and only when the hook succeeded with no write outside
that authority: a write anywhere else is prevented, never merely reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sei_assets.core.control.profile import allowed

SANDBOX_ENV = "SEI_HOOK_SANDBOX"  # "bwrap" (default where it works) or "copy"


@cache
def bwrap() -> str | None:
    """The bubblewrap executable when it can make a sandbox here (user namespaces may be off)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    try:
        probe = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--unshare-net", "--", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if probe.returncode == 0 else None


def mode() -> str:
    """``bwrap`` when the OS sandbox is available (and not turned off), else ``copy``."""
    if os.environ.get(SANDBOX_ENV) == "copy":
        return "copy"
    return "bwrap" if bwrap() else "copy"


Snapshot = dict[str, tuple[int, int, bool]]


def snapshot(root: Path) -> Snapshot:
    """Every file below ``root`` (``.git`` apart): size, mtime and whether it is a link."""
    out: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        if folder == str(root):
            dirs[:] = [d for d in dirs if d != ".git"]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            out[rel] = (st.st_mtime_ns, st.st_size, os.path.islink(path))
    return out


@dataclass
class Confined:
    """What a confined hook did: exit code, output, the files it changed, those outside its
    authority, and how it was confined."""

    exit_code: int
    stdout: str
    stderr: str
    wrote: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    mode: str = "copy"


def _argv(exe: str, argv: list[str], repo: Path, copy: Path, scratch: Path) -> list[str]:
    return [
        exe,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--bind", str(copy), str(repo),
        "--bind", str(scratch), str(scratch),
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
        "--chdir", str(repo),
        "--",
        *argv,
    ]  # fmt: skip


def _copy_back(copy: Path, repo: Path, paths: list[str], before: Snapshot) -> None:
    """Bring the declared writes of the copy into the repository (deletions too)."""
    from sei_assets.core.fsutil import atomic_write

    for rel in paths:
        src, dest = copy / rel, repo / rel
        if not dest.resolve().is_relative_to(repo):  # a link in the repository: never followed
            continue
        if src.is_file() and not src.is_symlink():
            atomic_write(dest, src.read_bytes(), src.stat().st_mode & 0o777)
        elif not src.exists() and rel in before and dest.is_file():
            dest.unlink()


def _not_the_ledger(repo: Path) -> Callable[[str, list[str]], set[str]]:
    """The copy's filter: the plane's ledger stays out. It is open in a transaction, and
    reading its file here would drop this process's SQLite locks on it (POSIX locks go with
    any descriptor of the file that is closed), letting a concurrent submitter in."""

    def skip(folder: str, names: list[str]) -> set[str]:
        return {"sei-control"} & set(names) if Path(folder) == repo / ".git" else set()

    return skip


def run_confined(
    build: Callable[[Path], list[str]],  # argv for the repository path it sees
    repo: Path,
    writes: tuple[str, ...],
    timeout: float,
    env: dict[str, str] | None = None,
    ok_exit: tuple[int, ...] = (0,),
) -> Confined:
    """Run the hook whose argv ``build(repo_path)`` gives, confined (see the module); copy its
    declared writes back when it exits with one of ``ok_exit`` and wrote nothing else."""
    repo = Path(repo).resolve()
    how = mode()
    with tempfile.TemporaryDirectory(prefix="sei-hook-") as work:
        copy, scratch = Path(work) / "repo", Path(work) / "scratch"
        shutil.copytree(repo, copy, symlinks=True, ignore=_not_the_ledger(repo))
        for sub in ("tmp", "home", "state", "dvc-site"):
            (scratch / sub).mkdir(parents=True)
        before = snapshot(copy)
        environ = dict(os.environ if env is None else env)
        environ.update(
            TMPDIR=str(scratch / "tmp"),
            HOME=str(scratch / "home"),
            SEI_STATE_DIR=str(scratch / "state"),
            DVC_SITE_CACHE_DIR=str(scratch / "dvc-site"),
            DVC_NO_ANALYTICS="1",
        )
        exe = bwrap() if how == "bwrap" else None
        argv = _argv(exe, build(repo), repo, copy, scratch) if exe else build(copy)
        try:
            proc = subprocess.run(
                argv,
                cwd=scratch if exe else copy,
                env=environ,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            code, out, err = -1, "", f"timed out after {timeout:g} s"
        except OSError as exc:
            code, out, err = -1, "", f"cannot start: {exc.strerror}"
        after = snapshot(copy)
        wrote = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        outside = [
            p for p in wrote if not allowed(p, writes) or (p in after and after[p][2])
        ]  # a link is never copied back: it could lead out of the repository
        if code in ok_exit and not outside:
            _copy_back(copy, repo, wrote, before)
    return Confined(code, out, err, wrote, outside, how)
