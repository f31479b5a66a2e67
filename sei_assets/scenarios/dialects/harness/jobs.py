"""Dagster front of the scenarios: each scenario file compiles into a job `scenario_<name>`.

One op per step, in order; each op's output is its step's observation, the input of the next
op, so the steps run in sequence. The step's trace (description, command, exit code, output
tails, every expectation with expected and actual) goes to the op's output metadata and to the
run's logs; a failed expectation fails the op (a `dagster.Failure` carrying the same metadata),
so the job fails and the later steps do not run.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.scenarios.dialects.harness.model import (
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_files,
)
from sei_assets.scenarios.dialects.harness.runner import describe, execute_step, new_workspace
from sei_assets.scenarios.runtime import chain_job, step_op


def _metadata(obs: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": dg.MetadataValue.text(obs["description"]),
        "command": dg.MetadataValue.text(obs["command"]),
        "exit_code": dg.MetadataValue.int(obs["exit_code"]),
        "stdout_tail": dg.MetadataValue.md(f"```\n{obs['stdout_tail']}\n```"),
        "stderr_tail": dg.MetadataValue.md(f"```\n{obs['stderr_tail']}\n```"),
        "expectations": dg.MetadataValue.json(obs["expectations"]),
        "seconds": dg.MetadataValue.float(float(obs["seconds"])),
        "working_repository": dg.MetadataValue.path(obs["state"]["repo"]),
    }


def _log(context: dg.OpExecutionContext, obs: dict[str, Any]) -> None:
    log = context.log
    log.info(f"steps[{obs['index']}] {obs['description']}")
    log.info(f"$ {obs['command']}  -> exit {obs['exit_code']} ({obs['seconds']} s)")
    for name in ("stdout_tail", "stderr_tail"):
        if obs[name]:
            log.info(f"{name}:\n{obs[name]}")
    for check in obs["expectations"]:
        line = (
            f"{'ok  ' if check['ok'] else 'FAIL'} expect.{check['field']}: expected "
            f"{json.dumps(check['expected'])}, actual {json.dumps(check['actual'], default=str)}"
        )
        (log.info if check["ok"] else log.error)(
            line + (f" ({check['detail']})" if check["detail"] else "")
        )


def _step_op(scenario: Scenario, index: int) -> dg.OpDefinition:
    """The op of step ``index`` (a factory, so that each op keeps its own index)."""
    step = scenario.steps[index]

    def run(context: dg.OpExecutionContext, state: dict[str, Any]) -> dg.Output:
        outcome = execute_step(scenario, index, state)
        obs = outcome.observation
        _log(context, obs)
        if outcome.failures:
            raise dg.Failure(description="\n".join(outcome.failures), metadata=_metadata(obs))
        return dg.Output(obs, metadata=_metadata(obs))

    options: dict[str, Any] = {
        "name": scenario.op_name(index),
        "description": describe(scenario, index),
        "out": dg.Out(dict, description="The step's observation (trace and state)."),
        "tags": {"sei/verb": step.do},
    }

    def start(context: dg.OpExecutionContext) -> dict[str, Any]:
        context.log.info(f"scenario {scenario.name}: {scenario.description}")
        state = new_workspace(scenario)
        context.log.info(f"working repository: {state['repo']}")
        return state

    return step_op(options, run, start if index == 0 else None)


def build_job(scenario: Scenario) -> dg.JobDefinition:
    """The Dagster job of one scenario: its steps as a chain of ops."""
    ops = [_step_op(scenario, i) for i in range(len(scenario.steps))]

    return chain_job(
        ops,
        name=scenario.job_name,
        description=scenario.description,
        tags={"sei/scenario": scenario.name},
        metadata={"scenario_file": dg.MetadataValue.path(str(scenario.path))},
    )


def scenario_jobs(directory: Path | None = None) -> list[dg.JobDefinition]:
    """One job per scenario file of ``directory`` (default `$SEI_SCENARIOS_DIR`, else
    `scenarios/`). Every file is validated first: a bad one raises `ScenarioError`."""
    jobs: dict[str, dg.JobDefinition] = {}
    for path in scenario_files(directory):
        scenario = load_scenario(path)
        if scenario.job_name in jobs:
            raise ScenarioError(path, [(None, f"job name {scenario.job_name} is taken")])
        jobs[scenario.job_name] = build_job(scenario)
    return list(jobs.values())


def scenario_jobs_safe(
    directory: Path | None = None,
) -> tuple[list[dg.JobDefinition], list[tuple[Path, str]]]:
    """As `scenario_jobs`, but a file that does not load is reported, not raised: the other
    scenarios' jobs still build (the production code location never fails on one file)."""
    jobs: dict[str, dg.JobDefinition] = {}
    problems: list[tuple[Path, str]] = []
    for path in scenario_files(directory):
        try:
            scenario = load_scenario(path)
            if scenario.job_name in jobs:
                raise ScenarioError(path, [(None, f"job name {scenario.job_name} is taken")])
            jobs[scenario.job_name] = build_job(scenario)
        except ScenarioError as exc:
            problems.append((path, str(exc)))
    return list(jobs.values()), problems
