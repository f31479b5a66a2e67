"""Running profile scenarios: a seeded system repository, each step a submission to the plane.

An observation (plain JSON, it travels between Dagster ops) holds the step's answer, every
expectation with expected and actual, and the plane's trace (gates fired, hook call, plan,
artifacts written or missing). A suite run signs one result document per profile version.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sei_assets.core.control import suite as suites
from sei_assets.core.control.plane import submit
from sei_assets.core.control.profile import LoadedProfile
from sei_assets.core.fsutil import sha256_file
from sei_assets.core.paths import resources_dir, state_dir
from sei_assets.core.workspace import seed_repository
from sei_assets.scenarios.dialects.profiles.model import ProfileScenario

EVIDENCE_FILES = (".sei/bundle.json", ".sei/release.json", ".sei/control/completion_report.json")


def new_workspace(scenario: ProfileScenario) -> dict[str, Any]:
    """A fresh system repository for one scenario, under `$SEI_STATE_DIR/scenarios/`."""
    base = state_dir() / "scenarios"
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"{scenario.slug}-{stamp}-", dir=base))
    repo = workdir / "repo"
    seed_repository(resources_dir() / scenario.system["resources"], repo)
    files = scenario.system["files"]
    if files:
        for dest, ref in files.items():
            target = repo / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(scenario.source(ref), target)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True)
        subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "commit", "-qm", f"scenario: {scenario.id}"],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    env = {}
    if scenario.system.get("roster"):
        from sei_assets.core.roster import sandbox

        env = sandbox(workdir / "org", scenario.system["roster"])
    return {"workdir": str(workdir), "repo": str(repo), "env": env}


@contextmanager
def _sandbox_env(env: dict[str, str]) -> Iterator[None]:
    """The scenario's own environment (its roster) for one step, restored after it."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_step(scenario: ProfileScenario, index: int, state: dict[str, Any]) -> dict[str, Any]:
    """Submit step ``index`` and check its expectation; the observation."""
    step = scenario.steps[index]
    start = time.monotonic()
    with _sandbox_env(state.get("env") or {}):
        sub = submit(
            Path(state["repo"]),
            scenario.profile,
            step.action,
            step.actor,
            step.payload,
            step.idempotency_key,
            require_approved=False,  # the suite is the trial that the approval for use rests on,
            trust_hooks=True,  # in a throwaway repository
        )
    checks = [
        {"field": f, "expected": v, "actual": sub.answer.get(f), "ok": sub.answer.get(f) == v}
        for f, v in step.expectation.items()
    ]
    return {
        "scenario": scenario.id,
        "index": index,
        "name": step.name,
        "action": step.action,
        "actor": step.actor,
        "idempotency_key": step.idempotency_key,
        "answer": sub.answer,
        "expectations": checks,
        "ok": all(c["ok"] for c in checks),
        "seq": sub.seq,
        "gates": sub.trace.get("gates", []),
        "hook": sub.trace.get("hook"),
        "plan": sub.trace.get("plan"),
        "materialized": sub.trace.get("materialized"),
        "artifacts_written": sub.trace.get("artifacts_written", []),
        "artifacts_missing": sub.trace.get("artifacts_missing", []),
        "replay_of": sub.trace.get("replay_of"),
        "conflict_with": sub.trace.get("conflict_with"),
        "seconds": round(time.monotonic() - start, 2),
        "state": state,
    }


def failures(obs: dict[str, Any]) -> list[str]:
    """One line per expectation the step did not meet."""
    return [
        f"steps[{obs['index']}] ({obs['name']}): expectation.{c['field']}: expected "
        f"{c['expected']!r}, actual {c['actual']!r}"
        for c in obs["expectations"]
        if not c["ok"]
    ]


def evidence_refs(repo: Path) -> dict[str, str]:
    """The digests of the evidence a scenario left behind."""
    return {
        rel: "sha256:" + sha256_file(repo / rel) for rel in EVIDENCE_FILES if (repo / rel).is_file()
    }


def scenario_result(scenario: ProfileScenario, observations: list[dict[str, Any]]) -> dict:
    """The record of one scenario run (what the suite result lists)."""
    repo = Path(observations[0]["state"]["repo"]) if observations else None
    steps = [{k: v for k, v in o.items() if k != "state"} for o in observations]
    return {
        "id": scenario.id,
        "class": scenario.scenario_class,
        "file": str(scenario.path),
        "ok": len(observations) == len(scenario.steps) and all(o["ok"] for o in observations),
        "steps": steps,
        "routes": [o["answer"]["route"] for o in observations],
        "gates_fired": [g for o in observations for g in o["gates"] if not g["passed"]],
        "hook_calls": [o["hook"] for o in observations if o["hook"]],
        "materialization": [
            {"step": o["index"], "plan": o["plan"], "materialized": o["materialized"]}
            for o in observations
            if o["plan"] is not None
        ],
        "failures": [f for o in observations for f in failures(o)],
        "repo": str(repo) if repo else None,
        "evidence_refs": evidence_refs(repo) if repo else {},
    }


def run_scenario(scenario: ProfileScenario) -> dict[str, Any]:
    """Run every step in order (stopping at the first unmet expectation)."""
    state = new_workspace(scenario)
    observations = []
    for i in range(len(scenario.steps)):
        obs = execute_step(scenario, i, state)
        observations.append(obs)
        if not obs["ok"]:
            break
    return scenario_result(scenario, observations)


def suite_document(profile: LoadedProfile, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The suite result: the profile's identity, every scenario, coverage and the verdict."""
    covered = {r["class"] for r in results if r["ok"]}
    missing = suites.missing_classes({r["class"] for r in results}, profile.profile.generated)
    return {
        "schema_version": 1,
        "kind": "profile_suite_result",
        "profile": {k: profile.ref[k] for k in ("id", "version", "sha256")},
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "required_classes": list(
            suites.REQUIRED_CLASSES
            + (suites.GENERATED_CLASSES if profile.profile.generated else ())
        ),
        "covered_classes": sorted(covered),
        "missing_classes": missing,
        "scenarios": results,
        "status": "green" if results and not missing and all(r["ok"] for r in results) else "red",
    }


def run_suite(
    profile: LoadedProfile, scenarios: list[ProfileScenario], key: Any = None
) -> tuple[dict[str, Any], Path]:
    """Run a profile's scenarios, then sign the result as its latest."""
    results = [run_scenario(s) for s in scenarios]
    doc = suite_document(profile, results)
    return doc, suites.write_result(profile, doc, key)
