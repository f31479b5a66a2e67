"""Running one step: its verb's handler, then every expectation, into an observation.

The runner knows neither the verbs nor the expectations: it looks both up in their registries.
An observation is plain JSON-able data (it travels between Dagster ops): the step's trace and
the state the next step needs (the working folder and the environment the verbs set).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core import trust
from sei_assets.core.errors import SeiError
from sei_assets.core.layout import SANDBOX_ENV
from sei_assets.core.paths import state_dir
from sei_assets.scenarios.dialects.harness.expectations import EXPECTATIONS, Observed
from sei_assets.scenarios.dialects.harness.model import Scenario
from sei_assets.scenarios.dialects.harness.verbs import (
    VERBS,
    SandboxError,
    StepContext,
    StepResult,
    inside,
)

TAIL_LINES = 30

DAGSTER_YAML = "# scenario sandbox instance of the inner `sei` runs\ntelemetry:\n  enabled: false\n"


def new_workspace(scenario: Scenario) -> dict[str, Any]:
    """A fresh working folder under `$SEI_STATE_DIR/scenarios/`: `repo/` (the working
    repository) and `dagster/` (the instance of the `sei` commands it runs, kept apart from
    the real systems' history). Returns the first step's state."""
    base = state_dir() / "scenarios"
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"{scenario.name}-{stamp}-", dir=base))
    (workdir / "repo").mkdir()
    (workdir / "dagster").mkdir()
    (workdir / "state").mkdir()
    (workdir / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    return {
        "workdir": str(workdir),
        "repo": str(workdir / "repo"),
        "env": {
            "DAGSTER_HOME": str(workdir / "dagster"),
            # a throwaway key of the scenario's own, never the machine's; the evidence says so
            "SEI_SIGNING_KEY": str(workdir / "state" / "signing-key.pem"),
            SANDBOX_ENV: scenario.name,
            **trust.sandbox_env(workdir / "state"),
        },
    }


def _environment(state: dict[str, Any]) -> dict[str, str]:
    from sei_assets.core.reproducers.base import tool_env

    return {**tool_env(), **state["env"]}


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class StepOutcome:
    """An observation and the messages of the expectations that failed."""

    observation: dict[str, Any]
    failures: list[str]


def describe(scenario: Scenario, index: int) -> str:
    """A step in one line: its own description, else its verb and arguments."""
    step = scenario.steps[index]
    if step.description:
        return step.description
    return f"{step.do} {_show(step.args)}" if step.args else step.do


#: The exit code of a step refused by the sandbox (it did not run).
REFUSED = 126


def _check_expectation_paths(repo: Path, expect: dict[str, Any]) -> None:
    """Every path an expectation reads resolves inside the working repository (its evidence
    paths inside `.sei/`), symlinks resolved; else the step is refused before it runs."""
    from sei_assets.core.layout import EVIDENCE_DIR

    for name in ("unchanged", "changed"):
        for rel in expect.get(name) or []:
            inside(repo, rel)
    for rel in expect.get("sei_artifacts") or []:
        inside(repo / EVIDENCE_DIR, rel, "the working repository's .sei/")


def execute_step(scenario: Scenario, index: int, state: dict[str, Any]) -> StepOutcome:
    """Run step ``index`` from ``state``; check its expectations (the verb's defaults, then the
    step's own)."""
    step = scenario.steps[index]
    verb = VERBS[step.do]
    expect = {**verb.default_expect, **step.expect}
    repo = Path(state["repo"])
    ctx = StepContext(
        scenario.name,
        index,
        repo,
        scenario.resources,
        _environment(state),
        commands=scenario.commands,
    )
    checks: list[dict[str, Any]] = []
    failures: list[str] = []
    before: dict[str, Any] = {}
    start = time.monotonic()
    try:
        _check_expectation_paths(repo, expect)
        before = {
            name: snap(repo, value)
            for name, value in expect.items()
            if (snap := EXPECTATIONS[name].before) is not None
        }
        result = verb.handler(ctx, step.args)
    except SandboxError as exc:
        result = StepResult(step.do, REFUSED, stderr=f"refused: {exc}\n")
        failures.append(f"{scenario.path}: steps[{index}] ({step.do}): refused: {exc}")
        expect, before = {}, {}
    except (OSError, SeiError) as exc:
        result = StepResult(step.do, 1, stderr=f"{type(exc).__name__}: {exc}\n")
    seconds = round(time.monotonic() - start, 2)
    observed = Observed(repo, result, before)
    for name, expected in expect.items():
        verdict = EXPECTATIONS[name].check(observed, expected)
        checks.append(
            {
                "field": name,
                "expected": expected,
                "actual": verdict.actual,
                "ok": verdict.ok,
                "detail": verdict.detail,
            }
        )
        if not verdict.ok:
            failures.append(
                f"{scenario.path}: steps[{index}] ({step.do}): expect.{name}: expected "
                f"{_show(expected)}, actual {_show(verdict.actual)}"
                + (f" ({verdict.detail})" if verdict.detail else "")
            )
    observation = {
        "scenario": scenario.name,
        "index": index,
        "do": step.do,
        "description": describe(scenario, index),
        "command": result.command,
        "exit_code": result.exit_code,
        "stdout_tail": _tail(result.stdout),
        "stderr_tail": _tail(result.stderr),
        "seconds": seconds,
        "expectations": checks,
        "ok": not failures,
        "state": {**state, "env": {**state["env"], **ctx.env_updates}},
    }
    return StepOutcome(observation, failures)
