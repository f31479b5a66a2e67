"""The result of a check run over many systems: a summary and a signed document.

The summary gives pass/fail per system and per top-level task (the scenario's checks), the
dichotomous score of every task (its points only when it passed on every system) and each
failure with its system, task, check and rendered message. The document is written under
``<state>/checks/`` with a detached DSSE signature beside it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from sei_assets.scenarios.dialects.checks.model import CheckScenario

SCHEMA = "sei-assets/check-result/v1"


def _leaf_checks(tasks: list[dict[str, Any]], path: str = "") -> dict[str, str]:
    """Every check's status, by its path (``task[item] > scenario:version > task.check``)."""
    out: dict[str, str] = {}
    for task in tasks:
        runs = task.get("iterations") or [task]
        for run in runs:
            label = task["task"] + (f"[{_item(run['item'])}]" if "item" in run else "")
            where = f"{path}{label}"
            for check in run.get("checks", []):
                out[f"{where}.{check['id']}"] = check["status"]
            if "children" in run:
                out |= _leaf_checks(run["children"], f"{where} > {run['scenario']} > ")
    return out


def _item(item: Any) -> str:
    if isinstance(item, dict):
        return ",".join(str(v) for v in item.values())
    return str(item)


def summarize(scenario: CheckScenario, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pass/fail per system, per top-level task and per check; the task scores over all
    systems; the failures."""
    per_system = {
        r["system"]: {
            "passed": r["passed"],
            "platform": r["platform"],
            "tasks": {t["task"]: t["status"] for t in r["tasks"]},
            "checks": _leaf_checks(r["tasks"]),
        }
        for r in results
    }
    steps = []
    for task in scenario.tasks:
        statuses = [s["tasks"].get(task.id) for s in per_system.values()]
        ok = all(st != "failed" for st in statuses)
        steps.append({"task": task.id, "points": task.points, "earned": task.points if ok else 0})
    failures = [
        {k: f[k] for k in ("system", "task", "check", "message", "at")}
        for r in results
        for f in r["failures"]
    ]
    refused = [f["message"] for r in results for f in r["failures"] if f.get("refused")]
    return {
        "passed": all(r["passed"] for r in results),
        **({"refused": refused} if refused else {}),
        "systems": per_system,
        "steps": steps,
        "failures": failures,
    }


def _now() -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


def write_result(
    scenario: CheckScenario,
    params: dict[str, Any],
    results: list[dict[str, Any]],
    directory: Path | None = None,
    key: Any = None,
) -> tuple[dict[str, Any], Path]:
    """Write and sign the result document; return it and its path."""
    from sei_assets.core import signing
    from sei_assets.core.evidence import dump, write_signed
    from sei_assets.core.paths import state_dir

    moment = _now()
    doc = {
        "schema_version": SCHEMA,
        "scenario": scenario.name,
        "version": scenario.version,
        "file": str(scenario.path),
        "params": params,
        "generated_at": moment.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "summary": summarize(scenario, results),
        "results": results,
    }
    folder = Path(directory) if directory else state_dir() / "checks"
    stamp = moment.strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{scenario.name}-{scenario.version}-{stamp}.json"
    write_signed(path, dump(doc), key or signing.load_or_create_key())
    return doc, path
