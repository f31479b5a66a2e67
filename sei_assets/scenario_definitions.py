"""The `sei_scenarios` code location: every scenario dialect's jobs (harness `scenario_*`,
reusable checks `check_*`, lifecycle experiments `lifecycle_*`, process profiles) and the
profiles' suite assets and checks, beside `sei_assets` in the same workspace
(`workspace.yaml`). Loading it reads the scenario and profile files, and runs nothing; a file
that does not load becomes a job that fails with the reason."""

from __future__ import annotations

import dagster as dg

from sei_assets.scenarios import all_scenario_jobs, invalid_scenario_jobs
from sei_assets.scenarios.dialects.profiles.dagster import profile_definitions

scenario_jobs, problems = all_scenario_jobs()
profile_assets, profile_checks = profile_definitions()
defs = dg.Definitions(
    assets=profile_assets,
    asset_checks=profile_checks,
    jobs=[*scenario_jobs, *invalid_scenario_jobs(problems)],
    executor=dg.in_process_executor,
)
