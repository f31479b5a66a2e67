"""Thin helpers over the git command line (history is evidence: we read it, never rewrite it)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in ``repo``; its stripped stdout ('' on failure when ``check`` is False)."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else ""


def head(repo: Path) -> str:
    """The commit id of HEAD, or '' outside a repository or before the first commit."""
    return git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False)


def show(repo: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev``, or None when absent."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


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
