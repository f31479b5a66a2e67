"""`lifecycle.up` / `lifecycle.down`: the scenario's sandbox, a temporary git (and DVC)
repository seeded from `resources/<from>/` with its own signing key, Dagster instance and
state folder, so that nothing a scenario does reaches the machine's key or history.

`overlay:` copies a folder shipped beside the scenarios into the fresh repository (a metrics
file and `dvc.lock`, say); `evaluate: true` then runs `sei run --no-repro` once, so the
sandbox starts with signed evidence. Such an evaluated sandbox is built once per content
(resources, overlay, the engine's sources) under `$SEI_STATE_DIR/scenarios/lifecycle-templates/`
and copied, since one `sei run` costs seconds.

When the caller targets a registered system (`sei scenario run --system NAME`), the sandbox's
repository is a copy of that system's repository instead: its history (a clone, without its
hooks, configuration or remote) and its working tree as it is, less the tools' caches and
stores (`SYSTEM_LEFT_OUT`); `from:` and `overlay:` do not apply, and `evaluate: true` re-signs
the system's own metrics with the sandbox's key. The registered repository is only read.
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


#: What a registered system's copy leaves out (paths inside its repository): the git folder
#: (cloned instead), the DVC cache, and the tools' own stores; MLflow's store records where its
#: artifacts go as an absolute path, so a run in the sandbox would write into the registered
#: repository.
SYSTEM_LEFT_OUT = (
    ".git",
    ".dvc/cache",
    ".dvc/tmp",
    "mlflow_project/mlflow.db",
    "mlflow_project/mlruns",
    "mlruns",
    "dagster_pipeline/.dagster_home",
)


def _system_files(source: Path):
    """The copy's filter for a registered repository: what is left out, and a refusal for a
    link that leads out of the repository or a file that is not a file, folder or link."""

    def check(folder: str, names: list[str]) -> set[str]:
        skip = set()
        for name in names:
            path = Path(folder) / name
            rel = path.relative_to(source).as_posix()
            if rel in SYSTEM_LEFT_OUT or name == "__pycache__":
                skip.add(name)
            elif path.is_symlink():
                if not path.resolve().is_relative_to(source):
                    raise VerbError(f"{rel}: a link out of the system's repository ({source})")
            elif not (path.is_dir() or path.is_file()):
                raise VerbError(f"{rel}: not a regular file or folder: refusing to copy it")
        return skip

    return check


def copy_system(source: Path, dest: Path) -> None:
    """``dest``: a copy of the registered repository ``source`` (read, never written): a clone
    of its history at its current commit, without hooks, configuration or remote, under a copy
    of its working tree as it is (uncommitted evidence included)."""
    from sei_assets.core import gitutil

    source = Path(source).resolve()
    if not (source / ".git").exists():
        raise VerbError(f"{source}: the registered system's repository is not a git repository")
    head = gitutil.git(source, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    cloned = subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", "--no-hardlinks", "--", str(source),
         str(dest)],
        capture_output=True, text=True,
    )  # fmt: skip
    if cloned.returncode != 0:
        raise VerbError(f"cannot clone {source}: {tail(cloned.stderr, 5)}")
    gitutil.git(dest, "remote", "remove", "origin", check=False)
    if head:
        gitutil.git(dest, "reset", "--quiet", head)  # the index at the system's commit
    try:
        shutil.copytree(
            source, dest, symlinks=True, ignore=_system_files(source), dirs_exist_ok=True
        )
    except shutil.Error as exc:
        first = exc.args[0][0] if exc.args and exc.args[0] else ("?", "?", str(exc))
        raise VerbError(f"cannot copy {source}: {first[0]}: {first[2]}") from None


def _build_from_system(root: Path, source: Path, evaluate: bool) -> None:
    """The sandbox of a registered system: its folders, the copy, the optional evaluation."""
    (root / "keys").mkdir(parents=True, mode=0o700)
    (root / "dagster").mkdir()
    (root / "state").mkdir()
    (root / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    copy_system(source, root / "repo")
    if evaluate:
        env = {**os.environ, **sandbox_env(root)}
        proc = subprocess.run(
            [sei_executable(), "run", "--repo", str(root / "repo"), "--no-repro", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode not in (0, 1):
            raise VerbError(
                f"evaluate: `sei run --no-repro` exited {proc.returncode} on the copy of "
                f"{source} (does it hold the metrics of a run?): {tail(proc.stderr, 10)}"
            )


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
    `loan`), with `overlay` and `evaluate` as above, or from the registered system the caller
    chose (`--system`); value {repo, root, pubkey} (and `system`)."""
    from sei_assets.core import signing
    from sei_assets.core.paths import resources_dir

    if ctx.sandbox is not None:
        raise VerbError(f"a sandbox is already up at {ctx.sandbox.root}")
    settings = {**ctx.config, **args}
    if ctx.system is not None:  # the caller's registered system, not the shipped resources
        root = ctx.workdir / "sandbox"
        _build_from_system(root, ctx.system[1], bool(settings.get("evaluate", False)))
        ctx.sandbox = Sandbox(root, root / "repo", sandbox_env(root))
        key = signing.load_or_create_key(root / "keys" / "signing-key.pem")
        return Result(
            {"repo": str(root / "repo"), "root": str(root), "pubkey": signing.public_key_hex(key),
             "system": ctx.system[0]}
        )  # fmt: skip
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
