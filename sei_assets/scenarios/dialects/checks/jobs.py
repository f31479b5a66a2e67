"""Dagster front of the check scenarios: one job per scenario version, `check_<name>_<version>`.

The job fans out: a ``targets`` op yields one dynamic output per system (the registered
systems, a chosen few, or targets the caller gives in the run config), a mapped
``check_system`` op runs the scenario on each (its task results in the op's metadata), and a
``summary`` op collects them: pass/fail per system and task, the signed result document under
``.sei-state/checks/``. When a system fails, the summary fails the run with every failure's
system, task, check and rendered message.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.errors import SeiError, plain_message
from sei_assets.scenarios.dialects.checks.document import write_result
from sei_assets.scenarios.dialects.checks.model import CheckError, CheckScenario
from sei_assets.scenarios.dialects.checks.registry import CheckRegistry, load_checks_lenient
from sei_assets.scenarios.dialects.checks.runner import (
    Target,
    bind,
    platform_of,
    registered_targets,
    run_one,
)

_CONFIG = {
    "systems": dg.Field([str], default_value=[], description="Registered systems (all if empty)"),
    "systems_file": dg.Field(str, is_required=False, description="Another systems.yaml"),
    "targets": dg.Field(
        [dg.Permissive({"name": str, "repo": str})],
        default_value=[],
        description="Targets given by the caller instead of the registry: name, repo",
    ),
    "params": dg.Field(dg.Permissive(), default_value={}, description="Scenario parameters"),
    "error_overrides": dg.Field(dg.Permissive(), default_value={}, description="check id: text"),
    "results_dir": dg.Field(str, is_required=False, description="Where the document goes"),
}


def _failure_lines(failures: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['system']}: task {f['task']}, check {f['check'] or '-'}: {f['message']}"
        for f in failures
    )


def build_check_job(registry: CheckRegistry, scenario: CheckScenario) -> dg.JobDefinition:
    """The fan-out job of one check scenario."""
    prefix = scenario.job_name

    @dg.op(
        name=f"{prefix}__targets",
        config_schema=_CONFIG,
        out=dg.DynamicOut(dict),
        description="One output per system, with the bound parameters.",
    )
    def targets(context: dg.OpExecutionContext):
        cfg = context.op_config
        try:
            params = bind(scenario, dict(cfg["params"]))
            if cfg["targets"]:
                chosen = [
                    Target(t["name"], Path(t["repo"]), t.get("platform") or platform_of(t["repo"]))
                    for t in cfg["targets"]
                ]
            else:
                chosen = registered_targets(cfg["systems"] or None, cfg.get("systems_file"))
        except SeiError as exc:
            raise dg.Failure(description=str(exc)) from None
        for target in chosen:
            context.log.info(f"{target.name}: platform {target.platform}, repo {target.repo}")
            yield dg.DynamicOutput(
                {
                    "target": target.to_json(),
                    "params": params,
                    "error_overrides": dict(cfg["error_overrides"]),
                    "results_dir": cfg.get("results_dir"),
                },
                mapping_key=target.name,
            )

    @dg.op(name=f"{prefix}__check_system", out=dg.Out(dict), description=scenario.description)
    def check_system(context: dg.OpExecutionContext, item: dict) -> dg.Output:
        t = item["target"]
        target = Target(t["name"], Path(t["repo"]), t["platform"])
        result = run_one(registry, scenario, target, item["params"], item["error_overrides"])
        result["results_dir"] = item["results_dir"]
        for f in result["failures"]:
            context.log.error(f"FAIL {f['at']}: {f['message']}")
        metadata = {
            "system": dg.MetadataValue.text(target.name),
            "platform": dg.MetadataValue.text(target.platform),
            "passed": dg.MetadataValue.bool(result["passed"]),
            "score": dg.MetadataValue.text(
                f"{result['score']['earned']:g}/{result['score']['total']:g}"
            ),
            "tasks": dg.MetadataValue.json(
                [{"task": x["task"], "status": x["status"]} for x in result["tasks"]]
            ),
            "task_results": dg.MetadataValue.json(json.loads(json.dumps(result["tasks"]))),
            "failures": dg.MetadataValue.md(_failure_lines(result["failures"]) or "none"),
        }
        return dg.Output(result, metadata=metadata)

    @dg.op(name=f"{prefix}__summary", out=dg.Out(dict))
    def summary(context: dg.OpExecutionContext, results: list[dict]) -> dg.Output:
        results = sorted(results, key=lambda r: r["system"])
        folder = next((r.pop("results_dir") for r in results), None)
        for r in results:
            r.pop("results_dir", None)
        params = results[0]["params"] if results else {}
        doc, path = write_result(scenario, params, results, Path(folder) if folder else None)
        table = "\n".join(
            ["| system | platform | passed | " + " | ".join(t.id for t in scenario.tasks) + " |"]
            + ["|" + " --- |" * (3 + len(scenario.tasks))]
            + [
                f"| {name} | {s['platform']} | {s['passed']} | "
                + " | ".join(s["tasks"].get(t.id, "-") for t in scenario.tasks)
                + " |"
                for name, s in doc["summary"]["systems"].items()
            ]
        )
        metadata = {
            "document": dg.MetadataValue.path(str(path)),
            "passed": dg.MetadataValue.bool(doc["summary"]["passed"]),
            "systems": dg.MetadataValue.md(table),
            "failures": dg.MetadataValue.json(doc["summary"]["failures"]),
        }
        if not doc["summary"]["passed"]:
            raise dg.Failure(
                description=f"{scenario.key} failed:\n"
                + _failure_lines(doc["summary"]["failures"]),
                metadata=metadata,
            )
        return dg.Output({"document": str(path), **doc["summary"]}, metadata=metadata)

    @dg.job(
        name=scenario.job_name,
        description=scenario.description,
        tags={"sei/check": scenario.key},
        metadata={"scenario_file": dg.MetadataValue.path(str(scenario.path))},
        executor_def=dg.in_process_executor,
    )
    def check_job():
        summary(targets().map(check_system).collect())

    return check_job


def check_jobs_safe(
    directory: Path | None = None,
) -> tuple[list[dg.JobDefinition], list[tuple[Path, str]]]:
    """One job per sound scenario of the library; the problems of the others (never raises)."""
    try:
        registry, problems = load_checks_lenient(directory)
    except CheckError as exc:
        return [], [(p.file, str(p)) for p in exc.problems]
    jobs = [build_check_job(registry, s) for s in registry.all()]
    return jobs, [(p.file, str(p)) for p in problems]


def _instance() -> dg.DagsterInstance:
    """The local instance (`$DAGSTER_HOME`) when there is one, else a throwaway one."""
    import os

    home = os.environ.get("DAGSTER_HOME")
    if home and Path(home).is_dir():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run_check_job(
    registry: CheckRegistry, scenario: CheckScenario, op_config: dict[str, Any]
) -> Path:
    """Run the scenario's job in-process (it shows in the instance's history); the path of the
    signed result document. A run that could not start its checks raises `SeiError`."""
    job = build_check_job(registry, scenario)
    config = {"ops": {f"{scenario.job_name}__targets": {"config": op_config}}}
    with _instance() as instance:
        result = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
    summary_step = f"{scenario.job_name}__summary"
    if result.success:
        return Path(result.output_for_node(summary_step)["document"])
    for event in result.all_node_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            metadata = user.metadata if user else {}
            if event.step_key == summary_step and "document" in metadata:
                return Path(str(metadata["document"].value))
            if user and user.description:
                raise SeiError(user.description)
            if data.error is None:
                raise SeiError("the check job failed")
            raise SeiError(plain_message(data.error.message, data.error.cls_name))
    raise SeiError(f"{scenario.job_name}: the run produced no result document")
