"""The Dagster front: every registered system's asset graph, the sweep, seeding, automation.

One concern per module: `system` (a system's assets and control checks), `governance`,
`sweep`, `dbt`, `automation`, `resources`, `seed`, `launch` (the CLI's runs), `metadata` and
`keys`. `build_definitions` assembles them; `sei_assets.definitions` is the code location.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from sei_assets.core.registry import SystemEntry

warnings.filterwarnings("ignore", category=dg.BetaWarning)


def build_definitions(
    entries: list[SystemEntry],
    extra_jobs: list | None = None,
    extra_assets: list | None = None,
    extra_checks: list | None = None,
    team: str | None = None,
) -> dg.Definitions:
    """Definitions for ``entries``, the sweep, seeding, the observation and automation sensors,
    plus what the code location adds (the scenario runtime's jobs, assets and checks). A
    ``team``'s code location (deploy/) names its sweep summary after the team. The asset graph
    is resolved here, while the collector is paused (`paused_collection`)."""
    with paused_collection():
        defs = _build(entries, extra_jobs, extra_assets, extra_checks, team)
        defs.resolve_asset_graph()
    return defs


@contextmanager
def paused_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the definitions are built, then freeze
    what was built. A code location of hundreds of systems allocates millions of objects that
    live as long as it does; the collector would traverse them again at every full collection
    (a fifth of a 500-system load, bench/README.md). Frozen, they are never traversed again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _build(
    entries: list[SystemEntry],
    extra_jobs: list | None,
    extra_assets: list | None,
    extra_checks: list | None,
    team: str | None,
) -> dg.Definitions:
    from sei_assets.defs.automation import automation_mode, automation_sensor, observation_sensor
    from sei_assets.defs.resources import OBSERVE_CRON_ENV, cron, settings_from_environment
    from sei_assets.defs.seed import seed_job
    from sei_assets.defs.sweep import sweep_definitions
    from sei_assets.defs.system import system_job, systems_definitions

    observe_cron = cron(OBSERVE_CRON_ENV, "*/5 * * * *")
    mode = automation_mode()
    from sei_assets.defs.monitoring import LEAVES, monitoring_sensor

    assets, checks = systems_definitions(entries)
    leaves = set(LEAVES.values())
    monitored = {
        k.path[0] for a in assets for k in a.keys if len(k.path) == 2 and k.path[1] in leaves
    }
    monitor_sensors = [monitoring_sensor([e for e in entries if e.name in monitored])]
    sweep_assets, sweep_checks, jobs, schedules, sweep_sensors = sweep_definitions(entries, team)
    return dg.Definitions(
        assets=[*assets, *sweep_assets, *(extra_assets or [])],
        asset_checks=[*checks, *sweep_checks, *(extra_checks or [])],
        jobs=[
            *jobs,
            seed_job(entries),
            *[system_job(e) for e in entries],
            *(extra_jobs or []),
        ],
        schedules=schedules,
        sensors=[
            automation_sensor(mode),
            observation_sensor(entries, observe_cron, mode),
            *sweep_sensors,
            *(monitor_sensors if monitored else []),
        ],
        resources={"sei": settings_from_environment()},
        executor=executor(),
    )


EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def executor() -> dg.ExecutorDefinition:
    """The executor of every asset job, from `$SEI_EXECUTOR`: `in_process` (the default: one
    process, what `sei run` and the embedded instance use), `multiprocess` (one host, steps in
    parallel subprocesses), `celery` (each step a task on the dagster-celery workers; the
    broker comes from the run config's `execution.config`) or `k8s` (each step a Kubernetes
    Job, deploy/k8s/run_config.yaml)."""
    import os

    from sei_assets.core.errors import SeiError
    from sei_assets.defs.resources import EXECUTOR_ENV

    name = os.environ.get(EXECUTOR_ENV) or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise SeiError(f"${EXECUTOR_ENV}={name!r}: expected one of {', '.join(EXECUTORS)}")
