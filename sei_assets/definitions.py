"""The Dagster code location: `dagster dev -m sei_assets.definitions`, `workspace.yaml`,
`dagster asset materialize -m sei_assets.definitions --select 'group:loan'`.

Every system in the registry (`systems.yaml`) gets its asset graph; the compliance sweep spans
them all; every scenario (`scenarios/*.json`) is a job; the automation sensor (running by
default) re-evaluates what drift made stale. Runs execute in-process by default (one process
for all steps: the quickest on graphs this small).
"""

from __future__ import annotations

import dagster as dg

from sei_assets.core.registry import load_registry
from sei_assets.defs.graph import sweep_definitions, system_definitions
from sei_assets.scenarios import scenario_jobs


def build_definitions() -> dg.Definitions:
    """Definitions for every registered system, the sweep and the automation sensor."""
    entries = load_registry()
    assets, checks = [], []
    for entry in entries:
        a, c = system_definitions(entry)
        assets += a
        checks += c
    sweep_assets, sweep_checks, jobs, schedules = sweep_definitions(entries)
    sensor = dg.AutomationConditionSensorDefinition(
        "sei_automation",
        target=dg.AssetSelection.all(include_sources=True),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Drift observed on disk re-evaluates exactly what it made stale.",
    )
    return dg.Definitions(
        assets=[*assets, *sweep_assets],
        asset_checks=[*checks, *sweep_checks],
        jobs=[*jobs, *scenario_jobs()],
        schedules=schedules,
        sensors=[sensor],
        executor=dg.in_process_executor,
    )


defs = build_definitions()
