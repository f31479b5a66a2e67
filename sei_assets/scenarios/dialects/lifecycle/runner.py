"""Sections, steps and verdicts of one lifecycle scenario run.

The timeline is a `plan`: one slot per step (setup, steadyState before, method phases,
steadyState after, verify, teardown). `Runtime.execute` runs one slot or records why it is
skipped, and applies the seed's rules:

- setup fails: ERRORED, nothing else runs but teardown;
- steadyState before the method fails: INCONCLUSIVE (the gate); after it: FAILED;
- the first failing method step stops the timeline: FAILED;
- verify runs every step; any failure that is not a `finding: true` makes it FAILED;
- the scenario `timeout:` passing: FAILED, "scenario exceeded timeout <N>s";
- teardown always runs (default `<lifecycle>.down` when the key is absent), is recorded, never
  changes the verdict, and is skipped under keep-up (`--keep-up`, `KEEP_UP=1`).

The Dagster job runs the same slots as ops (`jobs`), `run_scenario` runs them in a loop.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode
from sei_assets.scenarios.dialects.lifecycle.interpolate import ExpressionError, evaluate, render
from sei_assets.scenarios.dialects.lifecycle.model import Catalog, ComposedVerb, Scenario, Step
from sei_assets.scenarios.dialects.lifecycle.providers import LIFECYCLE_PROVIDERS, VERBS, process
from sei_assets.scenarios.dialects.lifecycle.providers.base import (
    Context,
    Result,
    StepTimeout,
    VerbError,
)

PASSED, FAILED, ERRORED, INCONCLUSIVE = "PASSED", "FAILED", "ERRORED", "INCONCLUSIVE"
VERDICTS = (PASSED, FAILED, ERRORED, INCONCLUSIVE)
#: Exit code of `sei scenario run` per verdict: ERRORED and INCONCLUSIVE have codes of their own,
#: apart from bad input (2) and an internal error (3).
EXIT_CODES = {
    PASSED: ExitCode.OK,
    FAILED: ExitCode.FAILED,
    ERRORED: ExitCode.ERRORED,
    INCONCLUSIVE: ExitCode.INCONCLUSIVE,
}
SECTIONS = ("setup", "steadyState.before", "method", "steadyState.after", "verify", "teardown")


@dataclass(frozen=True)
class Slot:
    """One step of the timeline: its section (steadyState twice), phase and step."""

    section: str
    index: int
    step: Step
    phase: str | None = None
    phase_index: int | None = None

    @property
    def op_name(self) -> str:
        """A Dagster name for this step's op."""
        section = self.section.replace(".", "_")
        where = f"p{self.phase_index}_" if self.phase_index is not None else ""
        verb = re.sub(r"[^A-Za-z0-9_]", "_", self.step.run)
        return f"{section}__{where}{self.index:02d}_{verb}"


def keep_up_default() -> bool:
    """`KEEP_UP=1` in the environment."""
    return os.environ.get("KEEP_UP", "").strip().lower() in ("1", "true", "yes")


def lifecycle_provider(scenario: Scenario, catalog: Catalog) -> tuple[str | None, list[str]]:
    """The one configured provider implementing up/down, and every candidate (more than one
    is a validate error): providers named in the project's or scenario's `providers:`;
    `lifecycle` when none is named."""
    configured = {**catalog.project.providers, **scenario.providers}
    composed = {v.provider for v in catalog.verbs.values()}
    candidates = [
        p
        for p in configured
        if p in LIFECYCLE_PROVIDERS
        or (p in composed and f"{p}.up" in catalog.verbs and f"{p}.down" in catalog.verbs)
    ]
    if len(candidates) == 1:
        return candidates[0], candidates
    return ("lifecycle" if not candidates else None), candidates


def default_teardown(scenario: Scenario, catalog: Catalog) -> Step:
    """`<lifecycle>.down`, the teardown of a scenario without the key."""
    provider, _ = lifecycle_provider(scenario, catalog)
    return Step(run=f"{provider or 'lifecycle'}.down", path="teardown(default)", line=None)


def plan(scenario: Scenario, catalog: Catalog) -> list[Slot]:
    """Every slot of the timeline, in order."""
    slots = [Slot("setup", i, s) for i, s in enumerate(scenario.setup)]
    slots += [Slot("steadyState.before", i, s) for i, s in enumerate(scenario.steady_state)]
    for p, phase in enumerate(scenario.method):
        slots += [Slot("method", i, s, phase.title, p) for i, s in enumerate(phase.steps)]
    slots += [Slot("steadyState.after", i, s) for i, s in enumerate(scenario.steady_state)]
    slots += [Slot("verify", i, s) for i, s in enumerate(scenario.verify)]
    teardown = (
        scenario.teardown
        if scenario.teardown is not None
        else [default_teardown(scenario, catalog)]
    )
    return slots + [Slot("teardown", i, s) for i, s in enumerate(teardown)]


def declared_env(catalog: Catalog) -> dict[str, Any]:
    """The `.env` namespace: each variable the project declares, from the environment or its
    default."""
    return {
        name: os.environ.get(name, "" if default is None else str(default))
        for name, default in catalog.project.env.items()
    }


def new_workdir(scenario: Scenario) -> Path:
    """A fresh run folder under `$SEI_STATE_DIR/scenarios/lifecycle/` (its result document
    goes to `.sei/scenarios/` in it; the sandbox is `sandbox/`)."""
    from sei_assets.core.paths import state_dir

    base = state_dir() / "scenarios" / "lifecycle"
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{scenario.slug}-{stamp}-", dir=base))


@dataclass
class StepRun:
    """What one step did: status (passed, failed, timeout, error, skipped) and Observation."""

    status: str
    observation: dict[str, Any] | None = None
    message: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    scenario_timeout: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class Runtime:
    """One run of a scenario: scope, workspace, the verdict so far, every step's record."""

    def __init__(
        self,
        scenario: Scenario,
        catalog: Catalog,
        keep_up: bool | None = None,
        workdir: Path | None = None,
        system: tuple[str, Path] | None = None,
    ) -> None:
        self.scenario = scenario
        self.catalog = catalog
        self.keep_up = keep_up_default() if keep_up is None else keep_up
        self.workdir = workdir or new_workdir(scenario)
        self.providers = {**catalog.project.providers, **scenario.providers}
        self.scope: dict[str, Any] = {
            "vars": {**catalog.project.vars, **scenario.vars},
            "outputs": {},
            "env": declared_env(catalog),
            "params": {},
        }
        self.ctx = Context(self.workdir, catalog.directory, system=system)
        self.verdict: str | None = None
        self.reason = ""
        self.failures: list[str] = []
        self.findings: list[str] = []
        self.stopped = False
        self.failed_passes: set[str] = set()
        self.records: list[dict[str, Any]] = []
        self.started_at = dt.datetime.now(dt.UTC)
        self.started = time.monotonic()
        self.deadline = self.started + scenario.timeout if scenario.timeout else None

    # ------------------------------------------------------------------ verdict

    def _decide(self, verdict: str, reason: str, stop: bool) -> None:
        self.failures.append(reason)
        if self.verdict is None:
            self.verdict, self.reason = verdict, reason
        if stop:
            self.stopped = True

    def _scenario_timeout(self) -> None:
        reason = f"scenario exceeded timeout {self.scenario.timeout:g}s"
        if self.verdict != FAILED or self.reason != reason:
            self.failures.append(reason)
        self.verdict, self.reason, self.stopped = FAILED, reason, True

    # ------------------------------------------------------------------ slots

    def execute(self, slot: Slot) -> dict[str, Any]:
        """Run (or skip) one slot, apply its section's rule, return its record."""
        step = slot.step
        skip = None
        if slot.section == "teardown":
            skip = "keep-up: the sandbox is left running" if self.keep_up else None
        elif self.stopped:
            skip = f"not run: {self.verdict} ({self.reason})"
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self._scenario_timeout()
            skip = f"not run: {self.reason}"
        elif slot.section in self.failed_passes:
            skip = f"not run: an earlier {slot.section} step failed"
        if skip is not None:
            outcome = StepRun("skipped", message=skip)
        else:
            outcome = self.run_step(step, slot.section != "teardown")
            self._apply(slot, outcome)
        record = {
            "section": slot.section,
            "phase": slot.phase,
            "path": step.path,
            "line": step.line,
            "run": step.run,
            "name": step.describe(),
            "status": outcome.status,
            "message": outcome.message,
            "checks": outcome.checks,
            "observation": outcome.observation,
            **({"steps": outcome.steps} if outcome.steps else {}),
        }
        self.records.append(record)
        return record

    def _apply(self, slot: Slot, outcome: StepRun) -> None:
        if outcome.scenario_timeout:
            self._scenario_timeout()
            return
        if outcome.passed or slot.section == "teardown":
            return
        where = f"{slot.section} {slot.step.path} ({slot.step.run})"
        reason = f"{where}: {outcome.message or outcome.status}"
        if slot.section == "setup":
            self._decide(ERRORED, reason, stop=True)
        elif slot.section == "steadyState.before":
            self._decide(INCONCLUSIVE, f"steady state did not hold before the method: {reason}",
                         stop=True)  # fmt: skip
        elif slot.section == "method":
            self._decide(FAILED, reason, stop=True)
        elif slot.section == "steadyState.after":
            self.failed_passes.add(slot.section)
            self._decide(FAILED, f"steady state did not recover: {reason}", stop=False)
        elif slot.step.finding:
            self.findings.append(reason)
        else:
            self._decide(FAILED, reason, stop=False)

    # ------------------------------------------------------------------ steps

    def _step_deadline(self, step: Step, bounded: bool) -> tuple[float | None, bool]:
        """(deadline, whether it is the scenario's) for a step starting now."""
        own = time.monotonic() + step.timeout if step.timeout else None
        outer = self.deadline if bounded else None
        if self.ctx.deadline is not None and (outer is None or self.ctx.deadline < outer):
            outer = self.ctx.deadline  # inside a composed verb: the calling step's deadline
        if outer is not None and (own is None or outer <= own):
            return outer, bounded and outer == self.deadline
        return own, False

    def run_step(
        self, step: Step, bounded: bool = True, params: dict[str, Any] | None = None
    ) -> StepRun:
        """Run one step over the scope (``params`` inside a composed verb): its verb, then
        `read`, `as`, `capture` and `expect`."""
        scope = {**self.scope, "params": params if params is not None else {}}
        outer_deadline = self.ctx.deadline
        deadline, is_scenario = self._step_deadline(step, bounded)
        start = time.monotonic()
        nested: list[dict[str, Any]] = []
        status, result, message = "ok", Result(), ""
        timed_out = False
        try:
            args = render(step.args, scope)
            self.ctx.deadline = deadline
            result, nested = self._call(step.run, args, scope)
            status = "ok" if result.ok else "failed"
            message = "" if result.ok else _why(result)
        except StepTimeout:
            status, timed_out = "timeout", True
            limit = self.scenario.timeout if is_scenario else step.timeout
            message = (
                f"timed out after {limit:g}s (its commands were killed)" if limit else ("timed out")
            )
        except (VerbError, ExpressionError, SeiError) as exc:
            status, message = "error", str(exc)
        except Exception as exc:  # a verb's own failure is the step's error, not the run's
            status, message = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self.ctx.deadline = outer_deadline
        meta: dict[str, Any] = {"durationMs": round((time.monotonic() - start) * 1000),
                                "status": status}  # fmt: skip
        if result.exit_code is not None:
            meta["exitCode"] = result.exit_code
        envelope = {"value": result.value, "output": result.output, "meta": meta}
        checks: list[dict[str, Any]] = []
        if status != "error":
            try:
                if step.read and not timed_out:
                    envelope["value"] = evaluate(step.read, envelope["value"])
                if step.bind:
                    self.scope["outputs"][step.bind] = envelope
                for name, expr in step.capture.items() if not timed_out else ():
                    self.scope["outputs"][name] = evaluate(expr, result.value)
                scope = {**self.scope, "params": params if params is not None else {}}
                for expr in step.expect:
                    program = render(expr, scope) if "${" in expr else expr
                    value = evaluate(program, envelope)
                    checks.append({"expect": expr, "ok": value not in (None, False),
                                   "actual": value})  # fmt: skip
            except ExpressionError as exc:
                status, message, timed_out = "error", str(exc), False
        if status == "error" or (timed_out and not step.expect):
            passed = False
        elif step.expect:
            # an expect may accept a timeout (`.meta.status == "timeout"`): then it passes
            passed = all(c["ok"] for c in checks)
            failed = [c["expect"] for c in checks if not c["ok"]]
            if failed:
                message = f"expected {'; '.join(failed)}" + (f" ({message})" if timed_out else "")
                if status == "failed":
                    message += f" (the verb failed: {_why(result)})"
            elif passed:
                message = ""
        else:
            passed = status == "ok"
        return StepRun(
            "passed" if passed else ("timeout" if timed_out else status if status != "ok"
                                     else "failed"),
            envelope,
            "" if passed else message,
            checks,
            nested,
            scenario_timeout=timed_out and is_scenario,
        )  # fmt: skip

    def _call(
        self, name: str, args: Any, scope: dict[str, Any]
    ) -> tuple[Result, list[dict[str, Any]]]:
        composed = self.catalog.verbs.get(name)
        if composed is not None:
            return self._composed(composed, args)
        verb = VERBS.get(name)
        if verb is None:
            raise VerbError(f"unknown verb {name!r}")
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            if verb.scalar is None:
                raise VerbError(f"{name}: `with:` must be a mapping of its parameters")
            args = {verb.scalar: args}
        self.ctx.config = dict(self.providers.get(name.split(".")[0]) or {})
        return verb.handler(self.ctx, args), []

    def _composed(self, verb: ComposedVerb, args: Any) -> tuple[Result, list[dict[str, Any]]]:
        if args is None:
            args = {}
        if not isinstance(args, dict):
            if len(verb.params) != 1:
                raise VerbError(f"{verb.name}: `with:` must be a mapping of its parameters")
            args = {next(iter(verb.params)): args}
        unknown = [k for k in args if k not in verb.params]
        missing = [k for k in verb.required if k not in args]
        if unknown or missing:
            raise VerbError(
                f"{verb.name}: "
                + "; ".join([f"unknown parameter '{k}'" for k in unknown]
                            + [f"missing parameter '{k}'" for k in missing])
            )  # fmt: skip
        params = {**{k: v for k, v in verb.params.items() if v is not None}, **args}
        nested, last = [], Result()
        for step in verb.steps:
            outcome = self.run_step(step, True, params)
            nested.append(
                {
                    "path": step.path,
                    "run": step.run,
                    "status": outcome.status,
                    "message": outcome.message,
                    "observation": outcome.observation,
                }
            )
            if outcome.status == "timeout":
                raise StepTimeout()
            obs = outcome.observation or {}
            last = Result(obs.get("value"), obs.get("output", ""), outcome.passed,
                          (obs.get("meta") or {}).get("exitCode"))  # fmt: skip
            if not outcome.passed:
                last.output = f"{step.path} ({step.run}): {outcome.message}"
                break
        return last, nested

    # ------------------------------------------------------------------ end

    def finish(self) -> dict[str, Any]:
        """The verdict, background processes stopped (unless keep-up), the result document
        written and signed; returns the document (with its path as `file`)."""
        from sei_assets.scenarios.dialects.lifecycle.result import write_result

        stopped = [] if self.keep_up else process.stop_all(self.ctx)
        verdict = self.verdict or PASSED
        finished = dt.datetime.now(dt.UTC)
        doc = {
            "apiVersion": "sei/v1",
            "kind": "ScenarioResult",
            "scenario": self.scenario.name,
            "file": str(self.scenario.file),
            "description": self.scenario.description,
            "tags": self.scenario.tags,
            "verdict": verdict,
            "reason": self.reason,
            "failures": self.failures,
            "findings": self.findings,
            "keepUp": self.keep_up,
            "system": (
                {"name": self.ctx.system[0], "repo": str(self.ctx.system[1])}
                if self.ctx.system
                else None
            ),
            "sandbox": str(self.ctx.sandbox.root) if self.ctx.sandbox else None,
            "startedAt": self.started_at.isoformat(timespec="seconds"),
            "finishedAt": finished.isoformat(timespec="seconds"),
            "durationMs": round((time.monotonic() - self.started) * 1000),
            "stoppedProcesses": stopped,
            "steps": self.records,
            "outputs": self.scope["outputs"],
        }
        path = write_result(self.workdir, self.scenario.slug, doc)
        return {**doc, "result": str(path)}


def _why(result: Result) -> str:
    """Why a verb failed: the last line of its output, else its exit code."""
    return _first_line(result.output) or f"exit {result.exit_code}"


def _first_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def run_scenario(
    scenario: Scenario,
    catalog: Catalog,
    keep_up: bool | None = None,
    system: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """Run a scenario's whole timeline without Dagster (on the registered ``system``'s copy
    when given); the result document."""
    runtime = Runtime(scenario, catalog, keep_up, system=system)
    for slot in plan(scenario, catalog):
        runtime.execute(slot)
    return runtime.finish()
