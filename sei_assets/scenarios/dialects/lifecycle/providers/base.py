"""What every provider verb shares: its registration, its result, and the step context.

A verb is a function ``(ctx, args) -> Result``. It reaches the world only through ``ctx``:
paths inside the scenario's workspace, commands run in their own process group and killed
(the whole group) when the step's deadline passes, background processes, the environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError


class StepTimeout(Exception):
    """The step's deadline passed: its commands were killed."""


class VerbError(SeiError):
    """A verb that cannot do what it was asked (bad argument, path outside the workspace)."""


@dataclass
class Result:
    """A verb's payload, its text output and whether it succeeded."""

    value: Any = None
    output: str = ""
    ok: bool = True
    exit_code: int | None = None


Handler = Callable[["Context", dict[str, Any]], Result]


@dataclass(frozen=True)
class Verb:
    """A registered verb: its handler, its parameters (name -> required) and whether it acts.

    ``scalar`` is the parameter a scalar `with:` value fills (`with: worker-a`).
    """

    name: str
    handler: Handler
    params: dict[str, bool] | None
    mutating: bool
    doc: str
    scalar: str | None = None


@dataclass
class Background:
    """A process started by `process.start`: its handle, start time and output log."""

    name: str
    popen: subprocess.Popen
    started: float
    log: Path
    command: list[str]


@dataclass
class Sandbox:
    """A `lifecycle.up` sandbox: the repository and the folders its `sei` runs use."""

    root: Path
    repo: Path
    env: dict[str, str]


@dataclass
class Context:
    """What a step's verb may use; one per scenario run, its deadline set per step."""

    workdir: Path
    project_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, Background] = field(default_factory=dict)
    sandbox: Sandbox | None = None
    deadline: float | None = None
    #: The registered system the caller targets (name, repository), else None: the sandbox
    #: is then seeded from the shipped resources.
    system: tuple[str, Path] | None = None

    # ----------------------------------------------------------------- time

    def remaining(self) -> float | None:
        """Seconds left before the step's deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check_deadline(self) -> None:
        """Raise StepTimeout when the deadline has passed."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise StepTimeout()

    def sleep(self, seconds: float) -> None:
        """Sleep, but not past the deadline (then StepTimeout)."""
        left = self.remaining()
        if left is not None and left < seconds:
            time.sleep(max(left, 0))
            raise StepTimeout()
        time.sleep(seconds)

    # ----------------------------------------------------------------- paths

    @property
    def base(self) -> Path:
        """Where relative paths point: the sandbox repository, else the workspace."""
        return self.sandbox.repo if self.sandbox else self.workdir

    def path(self, value: Any, what: str = "path") -> Path:
        """``value`` as a path inside the workspace (relative to `base`)."""
        if not isinstance(value, str) or not value:
            raise VerbError(f"{what}: expected a path string, got {value!r}")
        p = Path(value)
        p = (p if p.is_absolute() else self.base / p).resolve()
        root = self.workdir.resolve()
        if p != root and root not in p.parents:
            raise VerbError(f"{what}: {value!r} leaves the scenario workspace {root}")
        return p

    def project_path(self, value: Any, what: str = "path") -> Path:
        """A file shipped beside the scenarios (relative to the lifecycle folder)."""
        if not isinstance(value, str) or not value:
            raise VerbError(f"{what}: expected a path string, got {value!r}")
        p = (self.project_dir / value).resolve()
        if self.project_dir.resolve() not in p.parents:
            raise VerbError(f"{what}: {value!r} leaves the scenario folder {self.project_dir}")
        if not p.exists():
            raise VerbError(f"{what}: {p} does not exist")
        return p

    # ----------------------------------------------------------------- commands

    def environment(self, extra: dict[str, Any] | None = None) -> dict[str, str]:
        """The commands' environment: this interpreter first on PATH, the sandbox's
        variables, the step's own."""
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env.update(self.env)
        if self.sandbox:
            env.update(self.sandbox.env)
        env.update({str(k): "" if v is None else str(v) for k, v in (extra or {}).items()})
        return env

    def command(self, cmd: Any) -> list[str]:
        """A command as an argv list; `sei` and `python` name this checkout's own."""
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        if (
            not isinstance(cmd, list)
            or not cmd
            or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in cmd)
        ):
            raise VerbError(f"cmd: expected a non-empty list of strings or a shell string: {cmd!r}")
        argv = [str(c) for c in cmd]
        if argv[0] in ("sei", "python"):
            argv[0] = sei_executable() if argv[0] == "sei" else sys.executable
        return argv

    def run(
        self,
        cmd: list[str],
        cwd: Path | None = None,
        env: dict[str, Any] | None = None,
        stdin: str | None = None,
    ) -> tuple[int, str, str]:
        """Run a command to its end in its own process group; at the deadline kill the whole
        group (SIGKILL) and raise StepTimeout."""
        proc = subprocess.Popen(
            cmd,
            cwd=cwd or self.base,
            env=self.environment(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin, timeout=self.remaining())
        except subprocess.TimeoutExpired:
            kill_group(proc, signal.SIGKILL)
            proc.communicate()
            raise StepTimeout() from None
        except BaseException:
            kill_group(proc, signal.SIGKILL)
            proc.communicate()
            raise
        return proc.returncode, out, err


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal everything a command started: its process group and, since a tool may put its
    own children in a group of their own, every process of its session (it leads one)."""
    for pid in [proc.pid, *session_members(proc.pid)]:
        try:
            if pid == proc.pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def session_members(sid: int) -> list[int]:
    """The processes whose session id is ``sid`` (Linux `/proc`; empty elsewhere)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit() or int(name) == sid:
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[3] == str(sid):
            members.append(int(name))
    return members


def sei_executable() -> str:
    """The `sei` script next to this interpreter (this checkout's), else on PATH."""
    import shutil

    here = Path(sys.executable).parent / "sei"
    return str(here) if here.exists() else shutil.which("sei") or "sei"


def tail(text: str, lines: int = 40) -> str:
    """The last lines of a text."""
    return "\n".join(text.rstrip().splitlines()[-lines:])
