"""`process.*`: commands in their own process group: run one to its end (`exec`), start one in
the background (`start`), kill it with a signal (default 9) at a moment or on a marker
(`kill`), wait for it (`wait`), or just let time pass (`sleep`)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from typing import Any

from sei_assets.scenarios.dialects.lifecycle.providers.base import (
    Background,
    Context,
    Result,
    Verb,
    VerbError,
    kill_group,
    tail,
)

POLL = 0.01


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def execute(ctx: Context, args: dict[str, Any]) -> Result:
    """Run `cmd` to its end: value {exitCode, stdout, stderr, json}; ok when it exits 0."""
    cwd = ctx.path(args["cwd"], "cwd") if args.get("cwd") else None
    code, out, err = ctx.run(ctx.command(args.get("cmd")), cwd, args.get("env"), args.get("input"))
    value = {"exitCode": code, "stdout": tail(out), "stderr": tail(err), "json": _maybe_json(out)}
    return Result(value, tail(out + err), ok=code == 0, exit_code=code)


def start(ctx: Context, args: dict[str, Any]) -> Result:
    """Start `cmd` in the background as `name` (its output kept in a log for markers)."""
    name = str(args.get("name") or "")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise VerbError(f"name: expected a process name ([A-Za-z0-9_.-]+), got {name!r}")
    if name in ctx.processes and ctx.processes[name].popen.poll() is None:
        raise VerbError(f"name: a process {name!r} is already running")
    argv = ctx.command(args.get("cmd"))
    logs = ctx.workdir / "processes"
    logs.mkdir(exist_ok=True)
    log = logs / f"{name}.log"
    cwd = ctx.path(args["cwd"], "cwd") if args.get("cwd") else ctx.base
    with log.open("wb") as sink:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=ctx.environment(args.get("env")),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ctx.processes[name] = Background(name, popen, time.monotonic(), log, argv)
    return Result({"name": name, "pid": popen.pid, "command": argv})


def _process(ctx: Context, args: dict[str, Any]) -> Background:
    name = args.get("name")
    if name not in ctx.processes:
        known = ", ".join(ctx.processes) or "none"
        raise VerbError(f"name: no process {name!r} was started (started: {known})")
    return ctx.processes[name]


def _marker_seen(ctx: Context, proc: Background, marker: dict[str, Any], since: float) -> bool:
    if "output" in marker:
        text = proc.log.read_text(encoding="utf-8", errors="replace")
        return re.search(str(marker["output"]), text) is not None
    path = ctx.path(marker.get("file"), "marker.file")
    try:
        return path.stat().st_mtime >= since
    except FileNotFoundError:
        return False


def kill(ctx: Context, args: dict[str, Any]) -> Result:
    """Send `signal` (default 9) to process `name` (its whole group unless `group: false`):
    `after` seconds from its start, or as soon as `marker` shows ({output: regex} in its
    output, or {file: path} created or modified since it started). Not ok when the process
    ended before the moment came: then nothing was killed."""
    proc = _process(ctx, args)
    sig = int(args.get("signal", signal.SIGKILL))
    marker = args.get("marker")
    if marker is not None and (
        not isinstance(marker, dict) or not ({"output", "file"} & set(marker))
    ):
        raise VerbError("marker: expected {output: <regex>} or {file: <path>}")
    started_wall = time.time() - (time.monotonic() - proc.started)
    due = proc.started + float(args.get("after", 0))
    while True:
        if proc.popen.poll() is not None:
            code = proc.popen.returncode
            return Result(
                {"name": proc.name, "killed": False, "exitCode": code},
                f"process {proc.name} had already exited ({code}) before the kill",
                ok=False,
            )
        now = time.monotonic()
        if now >= due and (marker is None or _marker_seen(ctx, proc, marker, started_wall)):
            break
        ctx.sleep(POLL)
    at = round(time.monotonic() - proc.started, 3)
    if args.get("group", True):
        kill_group(proc.popen, sig)
    else:
        proc.popen.send_signal(sig)
    proc.popen.wait()
    return Result({"name": proc.name, "killed": True, "signal": sig, "atSeconds": at})


def wait(ctx: Context, args: dict[str, Any]) -> Result:
    """Wait for process `name` to end: value {exitCode, output}; ok when it exited 0."""
    proc = _process(ctx, args)
    while proc.popen.poll() is None:
        ctx.sleep(POLL * 5)
    code = proc.popen.returncode
    text = proc.log.read_text(encoding="utf-8", errors="replace")
    value = {"name": proc.name, "exitCode": code, "output": tail(text), "json": _maybe_json(text)}
    return Result(value, tail(text), ok=code == 0, exit_code=code)


def sleep(ctx: Context, args: dict[str, Any]) -> Result:
    """Let `seconds` pass."""
    seconds = float(args.get("seconds", 0))
    ctx.sleep(seconds)
    return Result({"slept": seconds})


def stop_all(ctx: Context) -> list[str]:
    """Kill every background process group still running (the end of a scenario)."""
    stopped = []
    for proc in ctx.processes.values():
        if proc.popen.poll() is None:
            kill_group(proc.popen, signal.SIGKILL)
            proc.popen.wait()
            stopped.append(proc.name)
    return stopped


VERBS = [
    Verb(
        "process.exec",
        execute,
        {"cmd": True, "cwd": False, "env": False, "input": False},
        True,
        execute.__doc__ or "",
        scalar="cmd",
    ),
    Verb(
        "process.start",
        start,
        {"name": True, "cmd": True, "cwd": False, "env": False},
        True,
        start.__doc__ or "",
    ),
    Verb(
        "process.kill",
        kill,
        {"name": True, "signal": False, "after": False, "marker": False, "group": False},
        True,
        kill.__doc__ or "",
        scalar="name",
    ),
    Verb("process.wait", wait, {"name": True}, False, wait.__doc__ or "", scalar="name"),
    Verb("process.sleep", sleep, {"seconds": True}, False, sleep.__doc__ or "", scalar="seconds"),
]
