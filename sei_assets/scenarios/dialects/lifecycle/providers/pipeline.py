"""`pipeline.*`: make the system's pipeline tool fail (`fail`) or hang (`hang`), and put it
back (`restore`). The stages' commands in the tool's stages file (its `stages_file` in the
table of tools: `dvc.yaml` for DVC) are replaced (one `stage`, or all), so the tool itself runs
and fails or never returns; the original is kept in the workspace, outside the repository."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from sei_assets.scenarios.dialects.lifecycle.providers.base import Context, Result, Verb, VerbError


def _stages_file(ctx: Context) -> tuple[str, Path]:
    """The sandbox system's tool and the file of its stage commands."""
    from sei_assets.core.lock import read_raw_manifest
    from sei_assets.core.reproducers.tools import tool_named, with_

    if ctx.sandbox is None:
        raise VerbError("pipeline: no sandbox is up (run lifecycle.up first)")
    pipeline = read_raw_manifest(ctx.sandbox.repo / "sei.yaml").get("pipeline")
    tool = pipeline.get("tool", "dvc") if isinstance(pipeline, dict) else "dvc"
    row = tool_named(tool) if isinstance(tool, str) else None
    if row is None or row.stages_file is None:
        only = ", ".join(with_("stages_file"))
        raise VerbError(f"pipeline: tool {tool!r} has no stage commands to replace (only {only})")
    return row.name, ctx.sandbox.repo / row.stages_file


def _replace(ctx: Context, args: dict[str, Any], command: str) -> Result:
    tool, path = _stages_file(ctx)
    backup = ctx.workdir / "pipeline-backup" / path.name
    if not backup.exists():
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, backup)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    stages = spec.get("stages") or {}
    wanted = [args["stage"]] if args.get("stage") else list(stages)
    for stage in wanted:
        if stage not in stages:
            known = ", ".join(stages)
            raise VerbError(f"stage: {stage!r} is not a stage of {path.name} ({known})")
        stages[stage]["cmd"] = command
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return Result({"tool": tool, "stages": wanted, "cmd": command})


def fail(ctx: Context, args: dict[str, Any]) -> Result:
    """Make `stage` (default every stage) exit with `exitCode` (default 3) and `message`."""
    code = int(args.get("exitCode", 3))
    message = str(args.get("message", "injected pipeline failure"))
    script = f"import sys; sys.stderr.write({message!r} + chr(10)); sys.exit({code})"
    return _replace(ctx, args, f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")


def hang(ctx: Context, args: dict[str, Any]) -> Result:
    """Make `stage` (default every stage) sleep `seconds` (default an hour)."""
    seconds = float(args.get("seconds", 3600))
    script = f"import time; time.sleep({seconds})"
    return _replace(ctx, args, f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")


def restore(ctx: Context, args: dict[str, Any]) -> Result:
    """Put the original pipeline definition back."""
    _tool, path = _stages_file(ctx)
    backup = ctx.workdir / "pipeline-backup" / path.name
    if not backup.exists():
        return Result({"restored": False})
    shutil.copy2(backup, path)
    backup.unlink()
    return Result({"restored": True})


VERBS = [
    Verb(
        "pipeline.fail",
        fail,
        {"stage": False, "exitCode": False, "message": False},
        True,
        fail.__doc__ or "",
    ),  # fmt: skip
    Verb("pipeline.hang", hang, {"stage": False, "seconds": False}, True, hang.__doc__ or ""),
    Verb("pipeline.restore", restore, {}, True, restore.__doc__ or ""),
]
