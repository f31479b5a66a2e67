"""The collect action: typed, read-only collectors whose argv the engine builds.

A check names a collector and its parameters, never a command line. Each collector is a read:
``sei_status`` / ``sei_verify`` / ``sei_lifecycle`` (the read-only verbs, as JSON),
``git_status``, ``git_log`` of a path, ``git_show`` of ``rev:path``, ``committed_manifest``,
``pipeline_status`` (the pipeline tool's own status: ``dvc status --json``) and ``read`` of a
file. Parameters are data (`sei_assets.core.untrusted`): a path stays inside the system's
repository once symlinks are resolved, a revision matches the revision grammar, and both are
passed after ``--end-of-options`` / ``--``. Nothing a collector runs can write, approve, run a
scenario, load code or open a pager. Every collector has a timeout; none uses a shell.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sei_assets.core import untrusted
from sei_assets.core.untrusted import UntrustedValue

READ = "read"
MAX_OUTPUT = 4 * 1024 * 1024
_MANIFESTS = ("sei.yaml", "venth.yaml", "froga.yaml")


@dataclass(frozen=True)
class Collector:
    """A named read: its parameters (name -> required) and what it does, for messages."""

    name: str
    summary: str
    params: dict[str, bool] = field(default_factory=dict)


COLLECTORS: dict[str, Collector] = {
    c.name: c
    for c in (
        Collector("sei_status", "`sei status --json`: gate, freshness, drift"),
        Collector("sei_verify", "`sei verify --json`: the evidence's signatures"),
        Collector("sei_lifecycle", "`sei lifecycle --json`: approvals and their staleness"),
        Collector("git_status", "`git status --porcelain --untracked-files=no`"),
        Collector("git_log", "`git log` of one path (newest first)", {"path": True, "max": False}),
        Collector("git_show", "`git show REV:PATH`", {"path": True, "rev": False}),
        Collector("committed_manifest", "the manifest (sei.yaml...) as committed at HEAD"),
        Collector("pipeline_status", "the pipeline tool's own status (`dvc status --json`)"),
        Collector(READ, "a file of the system's repository", {"path": True}),
    )
}


@dataclass(frozen=True)
class Call:
    """A collector named by a check, with its parameters (text, possibly with templates)."""

    name: str
    params: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name} {args}".strip()


def call_problem(call: Call) -> str | None:
    """Why ``call`` names no collector or does not fit its parameters, or None."""
    known = COLLECTORS.get(call.name)
    if known is None:
        return (
            f"unknown collector {call.name!r}: expected one of {', '.join(COLLECTORS)} "
            "(a check names a collector and its parameters, never a command)"
        )
    unknown = sorted(set(call.params) - set(known.params))
    if unknown:
        allowed = ", ".join(known.params) or "none"
        return f"{call.name}: unknown parameter(s) {', '.join(unknown)}: it takes {allowed}"
    missing = [p for p, required in known.params.items() if required and p not in call.params]
    if missing:
        return f"{call.name}: the parameter(s) {', '.join(missing)} are required"
    return None


@dataclass
class Collected:
    """What one collector gave: the argv the engine built, exit code, output, time, or why it
    could not run."""

    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    error: str | None = None
    refused: bool = False


def _sei() -> str | None:
    local = Path(sys.executable).parent / "sei"
    return str(local) if local.is_file() else shutil.which("sei")


def _tool(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    from sei_assets.core.reproducers.base import tool_env

    return shutil.which(name, path=tool_env().get("PATH"))


def _git(
    command: str,
    options: list[str],
    revs: tuple[str, ...] = (),
    paths: tuple[str, ...] = (),
    objects: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    return untrusted.git_argv(command, options, revs, paths, objects)


def _argv_sei(verb: str) -> Callable[[Path, dict], list[str]]:
    def build(repo: Path, params: dict) -> list[str]:
        exe = _sei()
        if exe is None:
            raise UntrustedValue("sei is not installed beside this interpreter")
        return [exe, verb, "--json"]  # run in the repository (the cwd)

    return build


def _argv_git_log(repo: Path, params: dict) -> list[str]:
    untrusted.inside(repo, params["path"], "git_log path", must_exist=False)
    count = params.get("max", "20")
    if not str(count).isdigit() or not 0 < int(count) <= 1000:
        raise UntrustedValue(f"git_log max: {count!r}: expected a number from 1 to 1000")
    options = [f"--max-count={int(count)}", "--no-ext-diff", "--no-textconv", "--format=%H %s"]
    return _git("log", options, ("HEAD",), (params["path"],))


def _argv_git_show(repo: Path, params: dict) -> list[str]:
    rev = untrusted.git_revision(params.get("rev", "HEAD"), "git_show rev")
    path = untrusted.relative_path(params["path"], "git_show path")
    untrusted.inside(repo, path, "git_show path", must_exist=False)
    return _git("show", ["--no-ext-diff", "--no-textconv"], objects=((rev, path),))


def _argv_git_status(repo: Path, params: dict) -> list[str]:
    return _git("status", ["--porcelain", "--untracked-files=no", "--ignore-submodules"])


def _argv_committed_manifest(repo: Path, params: dict) -> list[str]:
    from sei_assets.core import gitutil

    for name in _MANIFESTS:
        if gitutil.object_id(repo, "HEAD", name):
            return _git("show", ["--no-ext-diff", "--no-textconv"], objects=(("HEAD", name),))
    raise UntrustedValue("no manifest (sei.yaml, venth.yaml, froga.yaml) is committed at HEAD")


def _argv_pipeline_status(platform: str) -> Callable[[Path, dict], list[str]]:
    def build(repo: Path, params: dict) -> list[str]:
        from sei_assets.core.reproducers.tools import tool_named, with_

        row = tool_named(platform)
        if row is None or row.status is None:
            raise UntrustedValue(
                f"pipeline_status: the platform {platform} has no status command of its own "
                f"(only {', '.join(with_('status'))}; give this platform another collector, "
                "e.g. git_status)"
            )
        exe = _tool(row.name)
        if exe is None:
            raise UntrustedValue(f"{row.name} is not installed")
        return [exe, *row.status]

    return build


def build_argv(call: Call, repo: Path, platform: str) -> list[str]:
    """The argv the engine runs for ``call`` (rendered parameters) in ``repo``."""
    builders: dict[str, Callable[[Path, dict], list[str]]] = {
        "sei_status": _argv_sei("status"),
        "sei_verify": _argv_sei("verify"),
        "sei_lifecycle": _argv_sei("lifecycle"),
        "git_status": _argv_git_status,
        "git_log": _argv_git_log,
        "git_show": _argv_git_show,
        "committed_manifest": _argv_committed_manifest,
        "pipeline_status": _argv_pipeline_status(platform),
    }
    return builders[call.name](repo, call.params)


def _read(call: Call, repo: Path, start: float) -> Collected:
    argv = [READ, str(call.params.get("path"))]
    try:
        target = untrusted.inside(repo, call.params.get("path"), "read path")
        if not target.is_file():
            return Collected(argv, None, "", "", 0.0, f"read {argv[1]}: not a file")
        with open(target, "rb") as fh:
            raw = fh.read(MAX_OUTPUT + 1)
    except UntrustedValue as exc:
        return Collected(argv, None, "", "", 0.0, str(exc), refused=True)
    except OSError as exc:
        return Collected(argv, None, "", "", 0.0, f"read {argv[1]}: {exc.strerror}")
    if len(raw) > MAX_OUTPUT:
        return Collected(argv, None, "", "", 0.0, f"read {argv[1]}: larger than {MAX_OUTPUT} bytes")
    text = raw.decode("utf-8", errors="replace")
    return Collected(argv, 0, text, "", round(time.monotonic() - start, 3))


def collect(call: Call, repo: Path, platform: str, timeout: float) -> Collected:
    """Run the collector ``call`` (its parameters rendered) on the system at ``repo``; never
    raises for a failing read."""
    start = time.monotonic()
    problem = call_problem(call)
    if problem:
        return Collected([call.name], None, "", "", 0.0, problem, refused=True)
    repo = Path(repo).resolve()
    if call.name == READ:
        return _read(call, repo, start)
    try:
        argv = untrusted.no_shell(build_argv(call, repo, platform))
    except UntrustedValue as exc:
        return Collected([call.name], None, "", "", 0.0, str(exc), refused=True)
    from sei_assets.core.reproducers.base import tool_env

    try:
        proc = subprocess.run(
            argv,
            cwd=repo,
            env=untrusted.git_env(tool_env()),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
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
