"""The Dagster code location: `dg dev`, `workspace.yaml`, `dagster asset materialize -m
sei_assets.definitions --select 'group:loan'`. Loading it reads the registry, the manifests,
the profiles and the scenario files, and runs nothing."""

from __future__ import annotations

from sei_assets.core.registry import load_registry
from sei_assets.defs import build_definitions
from sei_assets.scenarios import all_scenario_jobs, invalid_scenario_jobs
from sei_assets.scenarios.dialects.profiles.dagster import profile_definitions

scenario_jobs, problems = all_scenario_jobs()
profile_assets, profile_checks = profile_definitions()
defs = build_definitions(
    load_registry(),
    extra_jobs=[*scenario_jobs, *invalid_scenario_jobs(problems)],
    extra_assets=profile_assets,
    extra_checks=profile_checks,
)
