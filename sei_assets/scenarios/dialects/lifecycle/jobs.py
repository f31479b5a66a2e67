"""Dagster front of the lifecycle dialect: each scenario a job `lifecycle_<name>`.

The job is `start` -> one stage (a graph) per section -> `verdict`. Each step of the timeline
is an op of its stage (steadyState appears twice: before and after the method); its output
metadata holds the step's Observation, status and checks. The ops pass a token (the run id)
so they run in order; the live runtime (scope, sandbox, background processes) stays in this
process, which is why the job runs in-process. The scenario's tags are the job's tags
(`sei-tag/<tag>`, and all of them in `sei/tags`). `verdict` writes the signed result
document and fails the run unless the verdict is PASSED: the verdict is the run's outcome.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.errors import plain_message
from sei_assets.scenarios.dialects.lifecycle.model import Catalog, Scenario, load_catalog
from sei_assets.scenarios.dialects.lifecycle.runner import (
    PASSED,
    SECTIONS,
    Runtime,
    Slot,
    keep_up_default,
    plan,
)
from sei_assets.scenarios.dialects.lifecycle.validate import blocking, validate

_LIVE: dict[str, Runtime] = {}
#: Result documents of finished runs, by run id (`pop_result`).
_RESULTS: dict[str, dict[str, Any]] = {}


def pop_result(run_id: str) -> dict[str, Any] | None:
    """The result document of a finished run (once)."""
    return _RESULTS.pop(run_id, None)


class StartConfig(dg.Config):
    """Run options: keep the sandbox up (skip teardown), as `--keep-up` / `KEEP_UP=1`; the
    registered system whose copy is the sandbox (`--system`, looked up in `systems_file` or
    the registries in force), else the shipped resources."""

    keep_up: bool = False
    system: str = ""
    systems_file: str = ""


def target_system(name: str, systems_file: str | Path | None = None) -> tuple[str, Path] | None:
    """(name, repository) of the registered system ``name``; None for no name."""
    if not name:
        return None
    from sei_assets.core.registry import find_system
    from sei_assets.core.workspace import require_repository

    entry = find_system(name, Path(systems_file) if systems_file else None)
    return entry.name, require_repository(entry.repo, entry.seed)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def job_tags(scenario: Scenario) -> dict[str, str]:
    """The job's tags: the scenario, the dialect, `sei/tags`, and one `sei-tag/<tag>` per tag
    (a `/` in a tag becomes `.`: Dagster allows one namespace in a key)."""
    tags = {"sei/scenario": scenario.name, "sei/dialect": "lifecycle"}
    tags["sei/tags"] = ",".join(scenario.tags)
    return tags | {f"sei-tag/{t.replace('/', '.')}": "true" for t in scenario.tags}


def _slot_op(scenario: Scenario, slot: Slot) -> dg.OpDefinition:
    @dg.op(
        name=f"{scenario.slug}__{slot.op_name}",
        description=f"{slot.section}: {slot.step.describe()}"
        + (f" (phase: {slot.phase})" if slot.phase else ""),
        ins={"token": dg.In(str)},
        out=dg.Out(str),
        tags={"sei/section": slot.section, "sei/verb": slot.step.run},
    )
    def step_op(context: dg.OpExecutionContext, token: str):
        record = _LIVE[token].execute(slot)
        line = f"{slot.section} {slot.step.path} {slot.step.run}: {record['status']}"
        if record["message"]:
            line += f": {record['message']}"
        (context.log.info if record["status"] in ("passed", "skipped") else context.log.error)(line)
        metadata = {
            "section": dg.MetadataValue.text(slot.section),
            "status": dg.MetadataValue.text(record["status"]),
            "observation": dg.MetadataValue.json(_plain(record["observation"] or {})),
            "checks": dg.MetadataValue.json(_plain(record["checks"])),
        }
        if record["message"]:
            metadata["message"] = dg.MetadataValue.text(record["message"])
        return dg.Output(token, metadata=metadata)

    return step_op


def _stage(scenario: Scenario, section: str, slots: list[Slot]) -> dg.GraphDefinition:
    ops = [_slot_op(scenario, s) for s in slots]

    @dg.graph(name=f"{scenario.slug}__{section.replace('.', '_')}", description=section)
    def stage(token: str):
        for op in ops:
            token = op(token)
        return token

    return stage


def build_job(scenario: Scenario, catalog: Catalog) -> dg.JobDefinition:
    """The Dagster job of one scenario."""
    slots = plan(scenario, catalog)
    stages = [
        _stage(scenario, section, [s for s in slots if s.section == section])
        for section in SECTIONS
        if any(s.section == section for s in slots)
    ]

    @dg.op(name=f"{scenario.slug}__start", out=dg.Out(str))
    def start(context: dg.OpExecutionContext, config: StartConfig) -> str:
        keep_up = config.keep_up or keep_up_default()
        system = target_system(config.system, config.systems_file)
        runtime = Runtime(scenario, catalog, keep_up, system=system)
        _LIVE[context.run_id] = runtime
        context.log.info(f"scenario {scenario.name}: workspace {runtime.workdir}")
        return context.run_id

    @dg.op(name=f"{scenario.slug}__verdict", ins={"token": dg.In(str)})
    def verdict(context: dg.OpExecutionContext, token: str) -> dg.Output:
        doc = _LIVE.pop(token).finish()
        _RESULTS[context.run_id] = doc
        metadata = {
            "verdict": dg.MetadataValue.text(doc["verdict"]),
            "result": dg.MetadataValue.path(doc["result"]),
        }
        if doc["verdict"] != PASSED:
            raise dg.Failure(description=f"{doc['verdict']}: {doc['reason']}", metadata=metadata)
        return dg.Output(None, metadata=metadata)

    @dg.job(
        name=scenario.job_name,
        description=scenario.description or scenario.name,
        tags=job_tags(scenario),
        metadata={"scenario_file": dg.MetadataValue.path(str(scenario.file))},
        executor_def=dg.in_process_executor,
    )
    def lifecycle_job():
        token = start()
        for stage in stages:
            token = stage(token)
        verdict(token)

    return lifecycle_job


def lifecycle_jobs_safe(
    directory: Path | None = None,
) -> tuple[list[dg.JobDefinition], list[tuple[Path, str]]]:
    """One job per runnable scenario; the files whose errors forbid a scenario, reported."""
    catalog = load_catalog(directory)
    problems = validate(catalog)
    jobs, bad = [], []
    reported: set[str] = set()
    for scenario in catalog.scenarios:
        errors = blocking(problems, scenario, catalog)
        if errors:
            for p in errors:
                if str(p) not in reported:
                    reported.add(str(p))
                    bad.append((Path(p.file), str(p)))
            continue
        jobs.append(build_job(scenario, catalog))
    for p in problems:
        if p.severity == "error" and str(p) not in reported:
            reported.add(str(p))
            bad.append((Path(p.file), str(p)))
    return jobs, bad


def execute(
    scenario: Scenario,
    catalog: Catalog,
    keep_up: bool = False,
    log_level: str = "CRITICAL",
    system: str = "",
    systems_file: Path | None = None,
) -> dict[str, Any]:
    """Run a scenario's job in-process on a throwaway instance (on a copy of the registered
    ``system`` when named); its result document."""
    job = build_job(scenario, catalog)
    start = {"keep_up": keep_up, "system": system, "systems_file": str(systems_file or "")}
    config: dict[str, Any] = {
        "ops": {f"{scenario.slug}__start": {"config": start}},
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
    doc = pop_result(result.run_id)
    if doc is None:
        failures = result.get_step_failure_events()
        error = failures[0].step_failure_data.error if failures else None
        why = plain_message(error.message, error.cls_name) if error else "no result"
        raise RuntimeError(f"scenario {scenario.name}: the job ended without a verdict: {why}")
    doc["dagsterRun"] = {"runId": result.run_id, "success": result.success}
    return doc
