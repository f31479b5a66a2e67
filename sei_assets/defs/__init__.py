"""The Dagster front: every registered system's asset graph, the sweep, seeding, automation.

One concern per module: `system` (a system's assets and control checks), `governance`,
`sweep`, `dbt`, `automation`, `resources`, `seed`, `launch` (the CLI's runs), `metadata` and
`keys`. `build_definitions` assembles them; `sei_assets.definitions` is the code location.
"""

from __future__ import annotations

import warnings

import dagster as dg

from sei_assets.core.registry import SystemEntry

warnings.filterwarnings("ignore", category=dg.BetaWarning)


def build_definitions(
    entries: list[SystemEntry],
    extra_jobs: list | None = None,
    extra_assets: list | None = None,
    extra_checks: list | None = None,
) -> dg.Definitions:
    """Definitions for ``entries``, the sweep, seeding, the observation and automation sensors,
    plus what the code location adds (the scenario runtime's jobs, assets and checks)."""
    from sei_assets.defs.automation import automation_sensor, observation_sensor
    from sei_assets.defs.resources import OBSERVE_CRON_ENV, cron, settings_from_environment
    from sei_assets.defs.seed import seed_job
    from sei_assets.defs.sweep import sweep_definitions
    from sei_assets.defs.system import system_definitions

    observe_cron = cron(OBSERVE_CRON_ENV, "*/5 * * * *")
    assets, checks = [], []
    for entry in entries:
        a, c = system_definitions(entry)
        assets += a
        checks += c
    sweep_assets, sweep_checks, jobs, schedules = sweep_definitions(entries)
    return dg.Definitions(
        assets=[*assets, *sweep_assets, *(extra_assets or [])],
        asset_checks=[*checks, *sweep_checks, *(extra_checks or [])],
        jobs=[*jobs, seed_job(entries), *(extra_jobs or [])],
        schedules=schedules,
        sensors=[automation_sensor(), observation_sensor(entries, observe_cron)],
        resources={"sei": settings_from_environment()},
        executor=dg.in_process_executor,
    )
