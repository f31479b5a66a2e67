"""`sei compile` and `sei run` as Dagster runs on the local instance, so that a run started
from the command line shows in the UI's history. The exit code comes from the run itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.exitcodes import ExitCode
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
    """The system the CLI was pointed at: the one registered at this path (its runs land on
    the keys the UI shows), else a system of its own, named after the manifest's system and
    keyed by the repository's root commit and path. A scratch clone of a registered system,
    same `system.name` and all, never writes into that system's materializations or prepared
    declarations."""
    from sei_assets.core.errors import SeiError
    from sei_assets.core.manifest import load_manifest
    from sei_assets.core.registry import load_registry, registered_at, repository_identity

    repo = Path(repo).resolve()
    try:
        registered = load_registry()
    except SeiError:
        registered = []
    entry = registered_at(repo, registered)
    if entry is not None:
        return entry
    name = load_manifest(repo).manifest.system.name
    return SystemEntry(f"{system_slug(name)}_{repository_identity(repo)[:10]}", repo)


def _bad_input_names() -> set[str]:
    from sei_assets.core.errors import bad_input_names

    return bad_input_names()


def _is_bad_input(error: Any) -> bool:
    """Whether a step failed on bad input (a `SeiError` in its cause chain), not a crash."""
    names = _bad_input_names()
    while error is not None:
        if getattr(error, "cls_name", None) in names:
            return True
        error = getattr(error, "cause", None)
    return False


#: The code location the systems' runs belong to (workspace.yaml, [tool.dg.project]).
LOCATION = "sei_assets"
LOCATION_MODULE = "sei_assets.definitions"


def location_origin(job_name: str) -> Any:
    """The origin of ``job_name`` in the `sei_assets` code location, as the webserver names it:
    a run that carries it is listed under that job and on the Overview (a run started by
    `dg.materialize` belongs to no location)."""
    import sys

    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from sei_assets.core.paths import project_root

    target = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name=LOCATION_MODULE,
        working_directory=str(project_root()),
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, location_name=LOCATION)
    return RemoteRepositoryOrigin(location, "__repository__").get_job_origin(job_name)


def execute_in_location(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    selection: list[dg.AssetKey],
    run_config: dict[str, Any],
    tags: dict[str, str],
) -> Any:
    """Run the selected assets of ``job`` in this process, as a run of that job in the
    `sei_assets` code location (what `JobDefinition.execute_in_process` does, with the run's
    origin set: Dagster offers no public argument for it)."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import (
        ExecuteRunWithPlanIterable,
        create_execution_plan,
        job_execution_iterator,
    )
    from dagster._core.execution.context_creation_job import (
        PlanOrchestrationContextManager,
        orchestration_context_event_generator,
    )
    from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult

    subset = job.as_ephemeral_job(resource_defs={}, input_values={}, asset_selection=selection)
    wrapped = InMemoryJob(subset)
    plan = create_execution_plan(wrapped, run_config=run_config, instance_ref=instance.get_ref())
    run = instance.create_run_for_job(
        job_def=subset,
        run_config=run_config,
        tags={**job.run_tags, **tags},
        asset_selection=frozenset(selection),
        execution_plan=plan,
        remote_job_origin=location_origin(job.name),
    )
    captured: dict = {}
    events = list(
        ExecuteRunWithPlanIterable(
            execution_plan=plan,
            iterator=job_execution_iterator,
            execution_context_manager=PlanOrchestrationContextManager(
                context_event_generator=orchestration_context_event_generator,
                job=wrapped,
                execution_plan=plan,
                dagster_run=run,
                instance=instance,
                run_config=run_config,
                executor_defs=None,
                output_capture=captured,
                raise_on_error=False,
            ),
        )
    )
    finished = instance.get_run_by_id(run.run_id)
    assert finished is not None, "the run was just executed on this instance"
    return ExecuteInProcessResult(
        job_def=subset,
        event_list=events,
        dagster_run=finished,
        output_capture=captured,
    )


def materialize_system(repo: Path, stage: str, repro: bool = True) -> tuple[int, str | None]:
    """Stage "compile" (the plan) or "run" (plan, pipeline, evidence, gate and its checks)
    as one run of the system's job on the local instance. Returns (exit code, error message):
    0 compiled or green, 1 red, 2 a step failed on bad input (its deepest error's message), 3 a
    step crashed (the message is then its deepest error's message, a blank line and the full
    trace)."""
    from sei_assets.defs.resources import settings_from_environment
    from sei_assets.defs.system import system_definitions, system_job
    from sei_assets.defs.verdict import OUTCOME_TAG, SYSTEM_TAG

    entry = system_for_repo(repo)
    assets, checks = system_definitions(entry)
    leaves = ["assessment_plan"]
    if stage == "run":
        leaves += ["pipeline_run", "evidence_bundle", "gate"]
    selection = [system_key(entry.name, leaf) for leaf in leaves]
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if stage == "run":
        run_config["ops"] = {f"{entry.name}__system": {"config": {"repro": repro}}}
    defs = dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[system_job(entry)],
        resources={"sei": settings_from_environment()},
        executor=dg.in_process_executor,
    )
    job = defs.resolve_job_def(entry.name)
    with local_instance() as instance:
        result = execute_in_location(
            job, instance, selection, run_config, {"sei/verb": stage, SYSTEM_TAG: entry.name}
        )
        outcome = result.dagster_run.tags.get(OUTCOME_TAG)
    # a red gate fails the checks' step (`sei/outcome=red`): that is the verdict, not a failure
    red = outcome == "red"
    failures = [
        e
        for e in result.get_step_failure_events()
        if e.step_failure_data.error.cls_name != "DagsterAssetCheckFailedError"
        and not (red and e.step_key == f"{entry.name}_controls")
    ]
    if failures:
        from sei_assets.core.errors import deepest_message

        error = failures[0].step_failure_data.error
        if not _is_bad_input(error):
            return ExitCode.INTERNAL_ERROR, f"{deepest_message(error)}\n\n{error.to_string()}"
        return ExitCode.BAD_INPUT, deepest_message(error)
    if stage == "compile":
        return ExitCode.OK, None
    bundle = system_key(entry.name, "evidence_bundle")
    gates = [
        m.materialization.metadata["gate"].value
        for m in result.get_asset_materialization_events()
        if m.asset_key == bundle
    ]
    if not gates:
        return ExitCode.BAD_INPUT, "the run produced no evidence bundle"
    if gates[-1] != "green":
        return ExitCode.FAILED, None
    # a green gate whose blocking checks did not all pass (the signature, say) is not a pass
    held = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    if held:
        return ExitCode.FAILED, "; ".join(
            f"{e.check_name} failed: {_check_detail(e)}" for e in held
        )
    return ExitCode.OK, None


def _check_detail(evaluation: Any) -> str:
    """What a failed check says about itself: its description, else its `detail`/`failure`."""
    if evaluation.description:
        return str(evaluation.description)
    for name in ("detail", "failure", "error"):
        value = evaluation.metadata.get(name)
        if value is not None:
            return str(getattr(value, "value", value))
    return "no detail"
