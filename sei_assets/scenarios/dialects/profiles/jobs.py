"""Dagster front of profile scenarios: each scenario a job `profile_<profile>__<id>`.

One op per step, chained by their observations; the step's answer, expectations and the plane's
trace go to the op's metadata and the run's logs. An unmet expectation fails the op (a
`dagster.Failure` with the same metadata), so the job fails and later steps do not run.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.control.profile import ProfileError
from sei_assets.core.errors import SeiError
from sei_assets.scenarios.dialects.profiles.model import (
    ProfileScenario,
    load_scenario,
    scenario_files,
)
from sei_assets.scenarios.dialects.profiles.runner import execute_step, failures, new_workspace
from sei_assets.scenarios.runtime import chain_job, step_op


def _metadata(obs: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": dg.MetadataValue.text(obs["action"]),
        "actor": dg.MetadataValue.json(obs["actor"]),
        "answer": dg.MetadataValue.json(obs["answer"]),
        "expectations": dg.MetadataValue.json(obs["expectations"]),
        "gates": dg.MetadataValue.json(obs["gates"]),
        "hook": dg.MetadataValue.json(obs["hook"] or {}),
        "plan": dg.MetadataValue.json(obs["plan"] or {}),
        "seconds": dg.MetadataValue.float(float(obs["seconds"])),
        "working_repository": dg.MetadataValue.path(obs["state"]["repo"]),
    }


def _step_op(scenario: ProfileScenario, index: int) -> dg.OpDefinition:
    """The op of step ``index`` (a factory, so each op keeps its own index)."""
    step = scenario.steps[index]

    def run(context: dg.OpExecutionContext, state: dict[str, Any]) -> dg.Output:
        obs = execute_step(scenario, index, state)
        context.log.info(f"steps[{index}] {step.name}: {step.action} by {step.actor['id']}")
        context.log.info("answer: " + json.dumps(obs["answer"]))
        problems = failures(obs)
        for line in problems:
            context.log.error(line)
        if problems:
            raise dg.Failure(description="\n".join(problems), metadata=_metadata(obs))
        return dg.Output(obs, metadata=_metadata(obs))

    options: dict[str, Any] = {
        "name": scenario.op_name(index),
        "description": f"{step.name} ({step.action})",
        "out": dg.Out(dict, description="The step's observation."),
        "tags": {"sei/action": step.action},
    }

    def start(context: dg.OpExecutionContext) -> dict[str, Any]:
        state = new_workspace(scenario)
        context.log.info(f"scenario {scenario.id}: system repository {state['repo']}")
        return state

    return step_op(options, run, start if index == 0 else None)


def build_job(scenario: ProfileScenario) -> dg.JobDefinition:
    """The Dagster job of one profile scenario: its steps as a chain of ops."""
    ops = [_step_op(scenario, i) for i in range(len(scenario.steps))]

    return chain_job(
        ops,
        name=scenario.job_name,
        description=f"{scenario.scenario_class}: {scenario.id}",
        tags={"sei/profile": scenario.profile.profile.id, "sei/class": scenario.scenario_class},
        metadata={"scenario_file": dg.MetadataValue.path(str(scenario.path))},
    )


def scenario_jobs_safe(
    directory: Path | None = None,
) -> tuple[list[dg.JobDefinition], list[tuple[Path, str]]]:
    """One job per profile scenario; a file that does not load is reported, never raised."""
    jobs: dict[str, dg.JobDefinition] = {}
    problems: list[tuple[Path, str]] = []
    for path in scenario_files(directory):
        try:
            scenario = load_scenario(path)
            if scenario.job_name in jobs:
                raise SeiError(f"{path}: job name {scenario.job_name} is taken")
            jobs[scenario.job_name] = build_job(scenario)
        except (SeiError, ProfileError, ValueError, TypeError, KeyError) as exc:
            problems.append((path, str(exc)))
    return list(jobs.values()), problems
