"""Scenarios: executable use cases (`scenarios/*.json`), each a Dagster job `scenario_<name>`.

    from sei_assets.scenarios import scenario_jobs
    dg.Definitions(..., jobs=scenario_jobs())

Adding a use case is a JSON file (and its resources under `resources/`); adding a verb or an
expect field is one registration in `verbs.py` or `expectations.py`. Importing this package
does not import Dagster: `scenario_jobs` and `build_job` do, when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sei_assets.scenarios.dialects.harness.model import (
    Scenario,
    ScenarioError,
    Step,
    load_scenario,
    scenario_files,
    scenarios_dir,
)

if TYPE_CHECKING:
    import dagster as dg

__all__ = [
    "Scenario",
    "ScenarioError",
    "Step",
    "build_job",
    "invalid_scenario_jobs",
    "load_scenario",
    "scenario_files",
    "all_scenario_jobs",
    "scenario_jobs",
    "scenarios_dir",
]


def scenario_jobs(directory: Path | None = None) -> list[dg.JobDefinition]:
    """One Dagster job per scenario file of the harness dialect (`$SEI_SCENARIOS_DIR`, else
    `scenarios/`); a malformed file raises `ScenarioError` (tests and validation use this)."""
    from sei_assets.scenarios.dialects.harness.jobs import scenario_jobs as jobs

    return jobs(directory)


def all_scenario_jobs(
    directory: Path | None = None,
) -> tuple[list[dg.JobDefinition], list[tuple[Path, str]]]:
    """Every dialect's jobs, and the files that could not be loaded (file, reason): what the
    code location uses, so one malformed scenario never takes it down."""
    from sei_assets.scenarios.dialects import DIALECTS

    jobs: list[dg.JobDefinition] = []
    problems: list[tuple[Path, str]] = []
    for dialect in DIALECTS:
        found, bad = dialect.jobs(directory)
        jobs += found
        problems += bad
    return jobs, problems


def invalid_scenario_jobs(problems: list[tuple[Path, str]]) -> list[dg.JobDefinition]:
    """For each scenario file that does not load, a job whose one op fails with the reason:
    the file shows in the UI as broken, and the code location still loads."""
    import re

    import dagster as dg

    jobs = []
    for path, reason in problems:
        name = "scenario_invalid_" + re.sub(r"[^A-Za-z0-9_]", "_", path.stem)

        def refuse(context, reason: str = reason) -> None:
            raise dg.Failure(description=reason)

        op = dg.op(name=f"{name}_refused", description=f"{path.name} does not load")(refuse)
        jobs.append(
            dg.GraphDefinition(name=name, node_defs=[op], description=reason).to_job(
                executor_def=dg.in_process_executor
            )
        )
    return jobs


def build_job(scenario: Scenario) -> dg.JobDefinition:
    """The Dagster job of one loaded scenario."""
    from sei_assets.scenarios.dialects.harness.jobs import build_job as build

    return build(scenario)
