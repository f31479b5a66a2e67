"""The collect action: run one command inside a system's repository, without a shell.

Allowed: any ``sei`` verb (the CLI of this interpreter's environment), read-only ``git``
sub-commands, each pipeline tool's own status commands, and ``read PATH`` (a file of the
repository, never outside it). The command is split like a shell line first, then each word
is rendered, so a value never adds words. Every command has a timeout.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

READ = "read"
#: executable -> the sub-commands allowed (None: any)
ALLOWED: dict[str, frozenset[str] | None] = {
    "sei": None,
    "git": frozenset(
        {"status", "log", "show", "diff", "rev-parse", "grep", "ls-files", "describe", "cat-file"}
    ),
    "dvc": frozenset({"status", "metrics", "params", "dag", "data", "exp", "version", "doctor"}),
    "mlflow": frozenset({"runs", "experiments", "--version"}),
    "dagster": frozenset({"asset", "definitions", "--version"}),
    "dbt": frozenset({"ls", "list", "debug", "--version"}),
}
#: sub-commands that would change something even under an allowed tool
_MUTATING = {("dvc", "exp"): {"run", "apply", "remove", "push", "pull", "gc", "save", "branch"}}


def command_problem(words: list[str]) -> str | None:
    """Why a split command may not be collected, or None."""
    if not words:
        return "the command is empty"
    tool = words[0]
    if tool == READ:
        return None if len(words) == 2 else "read takes exactly one path: read PATH"
    if tool not in ALLOWED:
        return (
            f"{tool!r} may not be run: expected read PATH or one of {', '.join(ALLOWED)} "
            "(the sei verbs, git, the pipeline tools' status commands)"
        )
    subs = ALLOWED[tool]
    if subs is not None and (len(words) < 2 or words[1] not in subs):
        got = words[1] if len(words) > 1 else "nothing"
        return f"{tool} {got}: expected one of {tool} {', '.join(sorted(subs))}"
    mutating = _MUTATING.get((tool, words[1] if len(words) > 1 else ""), set())
    if len(words) > 2 and words[2] in mutating:
        return f"{' '.join(words[:3])} changes the repository: only status commands are allowed"
    return None


def split(command: str) -> list[str]:
    """A command line's words, as a POSIX shell would split them (no expansion); a
    ``{{ param | filter }}`` stays inside its word even though it holds spaces."""
    from sei_assets.scenarios.dialects.checks.notation import TOKEN

    kept: list[str] = []

    def hide(m: re.Match) -> str:
        kept.append(m.group(0))
        return f"\x00{len(kept) - 1}\x00"

    words = shlex.split(TOKEN.sub(hide, command))
    return [re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], w) for w in words]


@dataclass
class Collected:
    """What one command gave: its words, exit code, output, time, or why it could not run."""

    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    error: str | None = None


def _executable(tool: str) -> str | None:
    bindir = Path(sys.executable).parent
    local = bindir / tool
    if local.is_file():
        return str(local)
    from sei_assets.core.reproducers.base import tool_env

    return shutil.which(tool, path=tool_env().get("PATH"))


def run_command(argv: list[str], repo: Path, timeout: float) -> Collected:
    """Run ``argv`` in ``repo`` (``read`` reads the file); never raises for a failing command."""
    start = time.monotonic()
    problem = command_problem(argv)
    if problem:
        return Collected(argv, None, "", "", 0.0, problem)
    repo = Path(repo).resolve()
    if argv[0] == READ:
        target = (repo / argv[1]).resolve()
        if not target.is_relative_to(repo):
            return Collected(argv, None, "", "", 0.0, f"read {argv[1]}: outside the repository")
        try:
            text = target.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return Collected(argv, None, "", "", 0.0, f"read {argv[1]}: {exc.strerror}")
        return Collected(argv, 0, text, "", round(time.monotonic() - start, 3))
    exe = _executable(argv[0])
    if exe is None:
        return Collected(argv, None, "", "", 0.0, f"{argv[0]} is not installed")
    from sei_assets.core.reproducers.base import tool_env

    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            cwd=repo,
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Collected(argv, None, "", "", timeout, f"timed out after {timeout:g} s")
    except OSError as exc:
        return Collected(argv, None, "", "", 0.0, f"cannot run {argv[0]}: {exc.strerror}")
    return Collected(
        argv, proc.returncode, proc.stdout, proc.stderr, round(time.monotonic() - start, 3)
    )
