"""`lifecycle.up` / `lifecycle.down`: the scenario's sandbox, a temporary git (and DVC)
repository seeded from `resources/<from>/` with its own signing key, Dagster instance and
state folder, so that nothing a scenario does reaches the machine's key or history.

`overlay:` copies a folder shipped beside the scenarios into the fresh repository (a metrics
file and `dvc.lock`, say); `evaluate: true` then runs `sei run --no-repro` once, so the
sandbox starts with signed evidence. Such an evaluated sandbox is built once per content
(resources, overlay, the engine's sources) under `$SEI_STATE_DIR/scenarios/lifecycle-templates/`
and copied, since one `sei run` costs seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sei_assets.core import trust
from sei_assets.scenarios.dialects.lifecycle.providers import process
from sei_assets.scenarios.dialects.lifecycle.providers.base import (
    Context,
    Result,
    Sandbox,
    Verb,
    VerbError,
    sei_executable,
    tail,
)

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Scenario Sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@scenario.invalid",
    "GIT_COMMITTER_NAME": "Scenario Sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@scenario.invalid",
}
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def sandbox_env(root: Path) -> dict[str, str]:
    """The variables of every command in a sandbox: its key, instance and state folder."""
    env = {
        "SEI_SIGNING_KEY": str(root / "keys" / "signing-key.pem"),
        **trust.sandbox_env(root / "keys"),
        "DAGSTER_HOME": str(root / "dagster"),
        "SEI_STATE_DIR": str(root / "state"),
    }
    return {**{k: os.environ.get(k, v) for k, v in _IDENTITY.items()}, **env}


def _digest(*folders: Path | None) -> str:
    h = hashlib.sha256()
    for folder in folders:
        if folder is None:
            continue
        for p in sorted(folder.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _build(root: Path, source: Path, overlay: Path | None, evaluate: bool) -> None:
    from sei_assets.core.workspace import seed_repository

    for key, value in _IDENTITY.items():  # seeding commits: give git an identity if none
        os.environ.setdefault(key, value)
    (root / "keys").mkdir(parents=True, mode=0o700)
    (root / "dagster").mkdir()
    (root / "state").mkdir()
    (root / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    repo = seed_repository(source, root / "repo", "declare: the AI system (scenario sandbox)")
    if overlay is not None:
        shutil.copytree(overlay, repo, dirs_exist_ok=True)
    if evaluate:
        env = {**os.environ, **sandbox_env(root)}
        proc = subprocess.run(
            [sei_executable(), "run", "--repo", str(repo), "--no-repro", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode not in (0, 1):
            raise VerbError(f"evaluate: `sei run --no-repro` exited {proc.returncode}: "
                            f"{tail(proc.stderr, 10)}")  # fmt: skip


def _template(source: Path, overlay: Path | None, evaluate: bool) -> Path:
    from sei_assets.core.paths import state_dir

    base = state_dir() / "scenarios" / "lifecycle-templates"
    base.mkdir(parents=True, exist_ok=True)
    engine = Path(__file__).resolve().parents[4] / "core"  # a changed engine: a new template
    digest = _digest(source, overlay, engine)
    final = base / f"{source.name}-{digest}{'-evaluated' if evaluate else ''}"
    if final.is_dir():
        return final
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=base))
    try:
        _build(work / "t", source, overlay, evaluate)
        try:
            os.rename(work / "t", final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def up(ctx: Context, args: dict[str, Any]) -> Result:
    """Create the sandbox from `resources/<from>/` (default from the provider's settings, else
    `loan`), with `overlay` and `evaluate` as above; value {repo, root, pubkey}."""
    from sei_assets.core import signing
    from sei_assets.core.paths import resources_dir

    if ctx.sandbox is not None:
        raise VerbError(f"a sandbox is already up at {ctx.sandbox.root}")
    settings = {**ctx.config, **args}
    name = str(settings.get("from", "loan"))
    source = resources_dir() / name
    if not source.is_dir() or "/" in name or name.startswith("."):
        raise VerbError(f"from: resources/{name}/ does not exist")
    overlay = ctx.project_path(settings["overlay"], "overlay") if settings.get("overlay") else None
    evaluate = bool(settings.get("evaluate", False))
    if evaluate and overlay is None:
        raise VerbError("evaluate: needs an overlay with the pipeline's outputs (metrics, lock)")
    root = ctx.workdir / "sandbox"
    template = _template(source, overlay, evaluate)
    shutil.copytree(template, root, symlinks=True)
    ctx.sandbox = Sandbox(root, root / "repo", sandbox_env(root))
    pubkey = signing.public_key_hex(signing.load_or_create_key(root / "keys" / "signing-key.pem"))
    return Result({"repo": str(root / "repo"), "root": str(root), "pubkey": pubkey})


def down(ctx: Context, args: dict[str, Any]) -> Result:
    """Stop the scenario's background processes and remove the sandbox."""
    stopped = process.stop_all(ctx)
    if ctx.sandbox is None:
        return Result({"removed": None, "stopped": stopped})
    root = ctx.sandbox.root
    shutil.rmtree(root, ignore_errors=True)
    ctx.sandbox = None
    return Result({"removed": str(root), "stopped": stopped})


VERBS = [
    Verb(
        "lifecycle.up",
        up,
        {"from": False, "overlay": False, "evaluate": False},
        True,
        up.__doc__ or "",
        scalar="from",
    ),  # fmt: skip
    Verb("lifecycle.down", down, {}, True, down.__doc__ or ""),
]
