"""`sei compile` and `sei run` as Dagster runs on the local instance, so that a run started
from the command line shows in the UI's history. The exit code comes from the run itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.registry import SystemEntry
from sei_assets.defs.keys import system_key, system_slug

#: The CLI's instance: SQLite storage in its folder, no telemetry (no banner in `sei` output).
INSTANCE_CONFIG = """# sei-assets local instance: SQLite storage in this folder (the defaults).
telemetry:
  enabled: false
"""


def instance_home() -> Path:
    """`$DAGSTER_HOME`, else `.sei-state/dagster`."""
    import os

    from sei_assets.core.paths import state_dir

    return Path(os.environ.get("DAGSTER_HOME") or state_dir() / "dagster")


def local_instance() -> dg.DagsterInstance:
    """The local instance (created on first use with `INSTANCE_CONFIG`).

    One process at a time creates and migrates the SQLite storage, under a file lock:
    concurrent first runs would otherwise race to stamp its schema version. Each call gets an
    instance of its own (an instance holds streams and watchers of the run it served).
    """
    import fcntl

    from sei_assets.core.fsutil import atomic_write

    home = instance_home()
    if home in _PREPARED:
        return dg.DagsterInstance.from_config(str(home))
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".sei-instance.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        config = home / "dagster.yaml"
        if not config.exists():
            atomic_write(config, INSTANCE_CONFIG)
        instance = dg.DagsterInstance.from_config(str(home))
        instance.get_runs(limit=1)  # storages are created and migrated under the lock
        instance.get_latest_materialization_event(dg.AssetKey("sei_instance_probe"))
        instance.all_instigator_state()
    _PREPARED.add(home)
    return instance


_PREPARED: set[Path] = set()


def system_for_repo(repo: Path) -> SystemEntry:
    """The registered system whose repository the CLI was pointed at (so that its runs land
    on the keys the UI shows), else an ad-hoc entry named after the manifest's system."""
    from sei_assets.core.errors import SeiError
    from sei_assets.core.manifest import load_manifest
    from sei_assets.core.registry import load_registry

    repo = Path(repo).resolve()
    try:
        registered = load_registry()
    except SeiError:
        registered = []
    for entry in registered:
        if entry.repo.resolve() == repo:
            return entry
    name = load_manifest(repo).manifest.system.name
    return SystemEntry(system_slug(name), repo)


def _deepest_error(error: Any) -> str:
    """The deepest error's message; for the engine's bad-input errors, without the class path
    Dagster puts before it (a message for people names no internal class)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = error.message.strip()
    head, sep, rest = message.partition(": ")
    cls = getattr(error, "cls_name", None)
    bad_input = cls in _bad_input_names()
    if sep and bad_input and (head == cls or head.endswith("." + cls)) and " " not in head:
        return rest.strip()
    return message


def _bad_input_names() -> set[str]:
    """The class names of the engine's bad-input errors (`SeiError` and its subclasses)."""
    from sei_assets.core.errors import SeiError

    names, todo = set(), [SeiError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _is_bad_input(error: Any) -> bool:
    """Whether a step failed on bad input (a `SeiError` in its cause chain), not a crash."""
    names = _bad_input_names()
    while error is not None:
        if getattr(error, "cls_name", None) in names:
            return True
        error = getattr(error, "cause", None)
    return False


def materialize_system(repo: Path, stage: str, repro: bool = True) -> tuple[int, str | None]:
    """Stage "compile" (the plan) or "run" (plan, pipeline, evidence, gate and its checks)
    as one run on the local instance. Returns (exit code, error message): 0 compiled or green,
    1 red, 2 a step failed on bad input (its deepest error's message), 3 a step crashed (the
    message is then its deepest error's message, a blank line and the full trace)."""
    from sei_assets.defs.resources import settings_from_environment
    from sei_assets.defs.system import system_definitions

    entry = system_for_repo(repo)
    assets, checks = system_definitions(entry)
    leaves = ["assessment_plan"]
    if stage == "run":
        leaves += ["pipeline_run", "evidence_bundle", "gate"]
    selection = dg.AssetSelection.assets(*[system_key(entry.name, leaf) for leaf in leaves])
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if stage == "run":
        run_config["ops"] = {f"{entry.name}__system": {"config": {"repro": repro}}}
    with local_instance() as instance:
        result = dg.materialize(
            [*assets, *checks],
            selection=selection,
            instance=instance,
            resources={"sei": settings_from_environment()},
            run_config=run_config,
            raise_on_error=False,
            tags={"sei/verb": stage, "sei/system": entry.name},
        )
    # a red gate fails the step on its blocking checks: that is the verdict, not a failure
    failures = [
        e
        for e in result.get_step_failure_events()
        if e.step_failure_data.error.cls_name != "DagsterAssetCheckFailedError"
    ]
    if failures:
        error = failures[0].step_failure_data.error
        if not _is_bad_input(error):
            return 3, f"{_deepest_error(error)}\n\n{error.to_string()}"
        return 2, _deepest_error(error)
    if stage == "compile":
        return 0, None
    bundle = system_key(entry.name, "evidence_bundle")
    gates = [
        m.materialization.metadata["gate"].value
        for m in result.get_asset_materialization_events()
        if m.asset_key == bundle
    ]
    if not gates:
        return 2, "the run produced no evidence bundle"
    return (0 if gates[-1] == "green" else 1), None
