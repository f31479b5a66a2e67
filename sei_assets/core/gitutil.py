"""Git access, in one place (history is evidence: we read it, and record decisions as new
commits; we never rewrite it). Every failure is a `GitError` with git's own message."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sei_assets.core.errors import SeiError


class GitError(SeiError):
    """A git command that could not run or failed."""


def _run(repo: Path, args: tuple[str, ...], text: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=repo,
            capture_output=True,
            **({"encoding": "utf-8", "errors": "replace"} if text else {}),
        )
    except OSError as exc:
        raise GitError(f"cannot run git in {repo}: {exc}") from None


def git_text(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout, or GitError with git's own message."""
    proc = _run(repo, args)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in ``repo``; its stripped stdout ('' on failure when ``check`` is False)."""
    proc = _run(repo, args)
    if proc.returncode != 0:
        if check:
            raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {proc.stderr.strip()}")
        return ""
    return proc.stdout.strip()


def head(repo: Path) -> str:
    """The commit id of HEAD, or '' outside a repository or before the first commit."""
    return git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False)


def has_head(repo: Path) -> bool:
    """Whether ``repo`` is inside a git work tree with at least one commit (GitError if no repo)."""
    repo = Path(repo)
    if not repo.is_dir():
        raise GitError(f"{repo} is not a directory")
    if git(repo, "rev-parse", "--is-inside-work-tree", check=False) != "true":
        raise GitError(f"{repo} is not a git repository: decisions are recorded as git commits")
    return bool(head(repo))


def blob_at(repo: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` (relative to ``repo``) at ``rev``, or None when absent."""
    proc = _run(repo, ("cat-file", "blob", f"{rev}:./{path}"), text=False)
    return proc.stdout if proc.returncode == 0 else None


def show(repo: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` (from the repository's root) at ``rev``, or None when absent."""
    proc = _run(repo, ("show", f"{rev}:{path}"), text=False)
    return proc.stdout if proc.returncode == 0 else None


def object_id(repo: Path, rev: str, path: str) -> str | None:
    """The blob id of ``path`` (relative to ``repo``) at ``rev``, or None when absent."""
    out = git(repo, "rev-parse", "-q", "--verify", f"{rev}:./{path}", check=False)
    return out or None


def last_commit_touching(repo: Path, paths: list[str]) -> tuple[str, str] | None:
    """(commit id, subject) of the newest commit that changed any of ``paths``."""
    if not paths:
        return None
    out = git(repo, "log", "-1", "--format=%H%x00%s", "--", *paths, check=False)
    if not out:
        return None
    sha, _, subject = out.partition("\x00")
    return sha, subject


def identity(repo: Path) -> tuple[str, str]:
    """The configured user.name and user.email (may be empty)."""
    name = git(repo, "config", "user.name", check=False)
    return name, git(repo, "config", "user.email", check=False)


def init_repository(repo: Path) -> None:
    """`git init` on branch main."""
    git(repo, "init", "-q", "-b", "main")


def commit_all(repo: Path, message: str) -> None:
    """Stage everything and commit it (unsigned)."""
    git(repo, "add", "-A")
    git(repo, "-c", "commit.gpgsign=false", "commit", "-qm", message)
