"""Replay the reference engine's exported histories into real git repositories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

REFERENCE = Path(__file__).parent / "fixtures" / "reference"


def commits(name: str) -> list[dict]:
    """The exported commits of one reference repository, oldest first."""
    return json.loads((REFERENCE / name / "history.json").read_text())["commits"]


def replay(name: str, dest: Path, upto: int | None = None) -> dict[str, str]:
    """Rebuild ``name``'s history in ``dest`` (up to commit index ``upto``); map old ids to new."""
    dest.mkdir(parents=True, exist_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    mapping: dict[str, str] = {}
    tracked: set[str] = set()
    for commit in commits(name):
        if upto is not None and commit["index"] > upto:
            break
        for stale in tracked - set(commit["files"]):
            (dest / stale).unlink()
        for rel, blob in commit["files"].items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REFERENCE / name / "blobs" / blob, target)
        tracked = set(commit["files"])
        env = dict(
            os.environ,
            GIT_AUTHOR_NAME=commit["author_name"],
            GIT_AUTHOR_EMAIL=commit["author_email"],
            GIT_AUTHOR_DATE=commit["author_date"],
            GIT_COMMITTER_NAME=commit["committer_name"],
            GIT_COMMITTER_EMAIL=commit["committer_email"],
            GIT_COMMITTER_DATE=commit["committer_date"],
        )
        _git(dest, "add", "-A", env=env)
        message = commit["message"].rstrip("\n") + "\n"
        _git(
            dest,
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--allow-empty",
            "--cleanup=verbatim",
            "-m",
            message,
            env=env,
        )
        mapping[commit["sha"]] = _git(dest, "rev-parse", "HEAD")
    return mapping


def blob(name: str, index: int, path: str) -> bytes:
    """The bytes of ``path`` as committed at exported commit ``index``."""
    commit = commits(name)[index]
    return (REFERENCE / name / "blobs" / commit["files"][path]).read_bytes()


def _git(cwd: Path, *args: str, env: dict | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()
