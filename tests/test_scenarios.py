"""Scenarios end to end: every `scenarios/*.json` runs as its Dagster job against the real git,
DVC and `sei` commands; a scenario written at test time runs with no new code; malformed
scenarios are refused before any step runs.

Measured on 2 cores: the five loan scenarios take 40-55 s each (a DVC run of the loan pipeline
is 20-30 s), the rest of the file about 20 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from jsonschema import Draft202012Validator

from sei_assets.scenarios import (
    ScenarioError,
    build_job,
    load_scenario,
    scenario_files,
    scenario_jobs,
)
from sei_assets.scenarios.dialects.harness.schema import build_schema, render, schema_path

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = scenario_files(ROOT / "scenarios")
#: The backends' scenarios run in tests/test_backends.py, which then checks what each tool
#: recorded (one run of each journey in the suite, not two).
BY_BACKEND = {"loan_mlflow", "loan_dagster", "loan_dbt"}
LOAN_FILES = [
    "sei.yaml",
    "dvc.yaml",
    "params.yaml",
    "data/german_credit.croissant.json",
]


def _execute(job: dg.JobDefinition) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False)


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]


def _write(directory: Path, name: str, steps: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    doc = {"name": name, "description": f"test scenario {name}", "resource_dir": "loan"}
    path.write_text(json.dumps({**doc, "steps": steps}, indent=2), encoding="utf-8")
    return path


def _copies(files: list[str]) -> list[dict[str, Any]]:
    return [{"do": "copy", "from": f, "to": f} for f in files]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder of this test's own, to see which working folders a test created."""
    folder = tmp_path / "state"
    monkeypatch.setenv("SEI_STATE_DIR", str(folder))
    return folder


HERE = [p for p in SCENARIOS if p.stem not in BY_BACKEND]


@pytest.mark.parametrize("path", HERE, ids=[p.stem for p in HERE])
def test_scenario(path: Path) -> None:
    scenario = load_scenario(path)
    result = _execute(build_job(scenario))
    assert result.success, "\n".join(_failures(result))
    last = result.output_for_node(scenario.op_name(len(scenario.steps) - 1))
    assert last["ok"] and Path(last["state"]["repo"]).is_dir()
    # the scenario's throwaway key is trusted in its own store, never remembered on the machine
    assert not Path(os.environ["SEI_KNOWN_KEYS"]).exists()
    assert last["state"]["env"]["SEI_KNOWN_KEYS"].startswith(last["state"]["workdir"])


def test_every_scenario_file_is_a_job_of_its_steps() -> None:
    # the scenarios not run here are each run by a backend test
    backends = (ROOT / "tests" / "test_backends.py").read_text(encoding="utf-8")
    for name in BY_BACKEND:
        assert (ROOT / "scenarios" / f"{name}.json").is_file(), name
        assert f'_journey("{name}")' in backends, name
    assert {p.stem for p in SCENARIOS} >= {
        "loan",
        "loan_treatment",
        "loan_tamper",
        "loan_status",
        "loan_bad_manifest",
    }
    jobs = {j.name: j for j in scenario_jobs(ROOT / "scenarios")}
    assert sorted(jobs) == sorted(f"scenario_{p.stem}" for p in SCENARIOS)
    for path in SCENARIOS:
        scenario = load_scenario(path)
        ops = jobs[scenario.job_name].graph.node_names()
        assert sorted(ops) == [scenario.op_name(i) for i in range(len(scenario.steps))]
        assert scenario.description


def test_scenario_jobs_load_in_their_own_code_location() -> None:
    """`sei_scenarios` (`sei_assets.scenario_definitions`) lists every scenario as a job (op
    names must not clash across jobs); the systems' location `sei_assets` lists none."""
    from sei_assets.definitions import defs as systems
    from sei_assets.scenario_definitions import defs

    names = {j.name for j in defs.resolve_all_job_defs()}
    assert {f"scenario_{p.stem}" for p in SCENARIOS} <= names
    assert any(n.startswith("lifecycle_") for n in names)
    assert any(n.startswith("check_") for n in names)
    in_systems = {j.name for j in systems.resolve_all_job_defs()}
    assert not {n for n in in_systems if n.startswith(("scenario_", "check_", "lifecycle_"))}


def test_schema_file_is_what_the_registries_build() -> None:
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema_path().read_text(encoding="utf-8") == render(build_schema()), (
        "run: python -m sei_assets.scenarios.dialects.harness.schema --write"
    )
    validator = Draft202012Validator(schema)
    for path in SCENARIOS:
        assert not list(validator.iter_errors(json.loads(path.read_text()))), path


def test_a_new_scenario_needs_only_json(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A use case written now, from existing verbs and the loan resources, runs as a job."""
    folder = tmp_path / "scenarios"
    _write(
        folder,
        "loan_declared",
        [
            {"do": "git_init"},
            {"do": "uv_init", "deps": ["dvc>=3", "scikit-learn>=1.5", "PyYAML"]},
            {"do": "dvc_init"},
            {"do": "copy", "from": "data", "to": "data", "description": "the whole data folder"},
            {"do": "dvc_add", "path": "data/german_credit.csv"},
            {"do": "copy", "from": "sei.yaml", "to": "sei.yaml"},
            {"do": "edit_sei", "replace": [['version: "1.0.0"', 'version: "1.1.0"']]},
            {"do": "commit", "message": "declare: loan-scoring 1.1.0"},
            {
                "do": "compile",
                "expect": {
                    "exit": "ok",
                    "stdout_contains": ["compiled 10 controls", "human-review-of-denials"],
                },
            },
        ],
    )
    monkeypatch.setenv("SEI_SCENARIOS_DIR", str(folder))
    (job,) = scenario_jobs()
    assert job.name == "scenario_loan_declared"
    result = _execute(job)
    assert result.success, "\n".join(_failures(result))
    repo = Path(result.output_for_node("loan_declared__08_compile")["state"]["repo"])
    assert repo.parent.parent == state / "scenarios"
    assert (repo / "data" / "german_credit.csv.dvc").is_file()
    assert (repo / "assessment_plan.oscal.yaml").is_file()
    assert 'version: "1.1.0"' in (repo / "sei.yaml").read_text()
    assert "dvc>=3" in (repo / "pyproject.toml").read_text()
    outputs = {
        e.step_key: e.event_specific_data.metadata
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT"
    }
    trace = outputs["loan_declared__08_compile"]
    assert trace["command"].value == "sei compile" and trace["exit_code"].value == 0
    assert "compiled 10 controls" in trace["stdout_tail"].value
    checks = {c["field"]: c for c in trace["expectations"].value}
    assert checks["exit"] == {
        "field": "exit",
        "expected": "ok",
        "actual": 0,
        "ok": True,
        "detail": "",
    }


@pytest.mark.parametrize(
    "steps, message",
    [
        (
            [
                {"do": "git_init", "expect": {"exit": "fail"}},
                {"do": "commit", "message": "never runs"},
            ],
            'steps[0] (git_init): expect.exit: expected "fail", actual 0',
        ),
        (
            [{"do": "uv_init", "deps": ["dvc>=3", "surely-not-installed-pkg>=1"]}],
            "surely-not-installed-pkg is not installed in the project's environment",
        ),
        (
            [{"do": "uv_init", "deps": ["dvc<1"]}],
            "'dvc<1': the project's environment has dvc",
        ),
        (
            [
                {"do": "copy", "from": "sei.yaml", "to": "sei.yaml"},
                {"do": "edit_sei", "replace": {"old": "no such literal", "new": "x"}},
            ],
            'steps[1] (edit_sei): expect.exit: expected "ok", actual 1 '
            "('no such literal' does not occur in sei.yaml)",
        ),
        (
            [{"do": "git_init", "expect": {"gate": "red"}}],
            'expect.gate: expected "red", actual null (no .sei/bundle.json',
        ),
    ],
    ids=["expectation", "uv-missing-dep", "uv-wrong-version", "edit-absent", "no-bundle"],
)
def test_a_failed_step_fails_the_job(
    tmp_path: Path, state: Path, steps: list[dict[str, Any]], message: str
) -> None:
    path = _write(tmp_path / "scenarios", "failing", steps)
    result = _execute(build_job(load_scenario(path)))
    assert not result.success
    (failure,) = _failures(result)
    assert str(path) in failure and message in failure, failure
    failed = int(failure.split("steps[", 1)[1].split("]", 1)[0])
    ran = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert ran == {f"failing__{i:02d}_{s['do']}" for i, s in enumerate(steps[: failed + 1])}


def test_tamper_flips_one_bit(tmp_path: Path, state: Path) -> None:
    path = _write(
        tmp_path / "scenarios",
        "flip",
        [
            {"do": "copy", "from": "NOTICE", "to": "NOTICE"},
            {"do": "tamper", "path": "NOTICE", "offset": -1},
        ],
    )
    result = _execute(build_job(load_scenario(path)))
    assert result.success, "\n".join(_failures(result))
    repo = Path(result.output_for_node("flip__01_tamper")["state"]["repo"])
    original = (ROOT / "resources" / "loan" / "NOTICE").read_bytes()
    assert (repo / "NOTICE").read_bytes() == original[:-1] + bytes([original[-1] ^ 1])


def test_bundle_expectations_show_expected_and_actual(tmp_path: Path, state: Path) -> None:
    """Every bundle checker, failing on a small bundle: each message names both values."""
    from sei_assets.scenarios.dialects.harness.runner import execute_step, new_workspace

    path = _write(
        tmp_path / "scenarios",
        "judged",
        [
            {
                "do": "copy",
                "from": "NOTICE",
                "to": "NOTICE",
                "expect": {
                    "gate": "green",
                    "control_count": 1,
                    "controls": {
                        "c1": {"passed": True, "actual_gt": 0.5, "frameworks": ["b"]},
                        "c2": {"passed": True},
                    },
                    "risk_analysis": {"r1": {"cycle": "closed", "inherent_overall": "HIGH"}},
                    "overall_residual": {"level": "LOW", "contributing": ["r1"]},
                    "treatment_events": {"count": 1},
                    "gate_failures": [],
                    "sei_artifacts": ["bundle.json"],
                },
            }
        ],
    )
    scenario = load_scenario(path)
    first = new_workspace(scenario)
    bundle = {
        "system_name": "judged",
        "gate": "red",
        "gate_failures": ["c1"],
        "control_results": [
            {
                "control_id": "c1",
                "metric_key": "m1",
                "actual_value": 0.1,
                "threshold": 0.5,
                "operator": "gt",
                "severity": "high",
                "enforcement_mode": "block",
                "passed": False,
                "frameworks": ["a"],
            }
        ],
        "risk_analysis": [
            {"risk_id": "r1", "inherent_overall": "HIGH", "cycle": {"status": "open"}}
        ],
        "overall_residual": {"level": "HIGH", "contributing": ["r1"]},
        "treatment_events": [],
    }
    (Path(first["repo"]) / ".sei").mkdir()
    (Path(first["repo"]) / ".sei" / "bundle.json").write_text(json.dumps(bundle))
    outcome = execute_step(scenario, 0, first)
    text = "\n".join(outcome.failures)
    for part in [
        'expect.gate: expected "green", actual "red"',
        "c1.passed: expected true, actual false",
        "c1.actual_gt: expected 0.5, actual 0.1",
        'c1.frameworks: expected ["b"], actual ["a"]',
        "c2: no such control (have: c1)",
        'r1.cycle: expected "closed", actual "open"',
        'level: expected "LOW", actual "HIGH"',
        "count: expected 1, actual 0",
        'expect.gate_failures: expected [], actual ["c1"]',
        "bundle.json: no .sei/PUBKEY.txt",
    ]:
        assert part in text, text
    assert len(outcome.failures) == 7
    verdicts = {c["field"]: c["ok"] for c in outcome.observation["expectations"]}
    assert verdicts["exit"] and verdicts["control_count"] and not verdicts["gate"]


MALFORMED = [
    ({"do": "frobnicate"}, "unknown verb 'frobnicate'"),
    (
        {"do": "run", "expect": {"gatee": "red"}},
        "unknown expect field 'gatee' (did you mean 'gate'?",
    ),
    ({"do": "copy", "from": "sei.yaml"}, "(copy): missing argument 'to'"),
    (
        {"do": "copy", "from": "../../pyproject.toml", "to": "x"},
        "path '../../pyproject.toml' leaves",
    ),
    ({"do": "copy", "from": "sei.yaml", "to": "../outside.yaml"}, "path '../outside.yaml' leaves"),
    ({"do": "copy", "from": "sei.yaml", "to": "/tmp/abs.yaml"}, "path '/tmp/abs.yaml' leaves"),
    ({"do": "copy", "from": "no-such-file", "to": "x"}, "'no-such-file' does not exist"),
    ({"do": "commit", "message": "m", "amend": True}, "unknown argument 'amend'"),
]


@pytest.mark.parametrize(
    "bad, reason",
    MALFORMED,
    ids=[
        "unknown-verb",
        "unknown-expect",
        "missing-argument",
        "from-leaves-resources",
        "to-leaves-repo",
        "to-absolute",
        "from-absent",
        "unknown-argument",
    ],
)
def test_malformed_scenario_is_refused_before_any_step(
    tmp_path: Path,
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
    bad: dict[str, Any],
    reason: str,
) -> None:
    steps = [{"do": "git_init"}, *_copies(LOAN_FILES[:1]), bad, {"do": "compile"}]
    path = _write(tmp_path / "scenarios", "malformed", steps)
    monkeypatch.setenv("SEI_SCENARIOS_DIR", str(path.parent))
    with pytest.raises(ScenarioError) as caught:
        scenario_jobs()
    message = str(caught.value)
    assert str(path) in message and "steps[2]" in message and reason in message, message
    assert caught.value.step == 2
    assert not (state / "scenarios").exists()


def test_scenario_level_problems_are_refused(tmp_path: Path, state: Path) -> None:
    path = _write(tmp_path, "named", [{"do": "git_init"}])
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "name": "other", "resource_dir": "absent"}))
    with pytest.raises(ScenarioError, match="differs from the file name"):
        load_scenario(path)
    path.write_text(json.dumps({**doc, "resource_dir": "absent"}))
    with pytest.raises(ScenarioError, match="resource_dir 'absent': no folder"):
        load_scenario(path)
    path.write_text("{ not json")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenario(path)
    assert not (state / "scenarios").exists()


def test_dagster_job_execute_runs_a_scenario(tmp_path: Path, state: Path) -> None:
    """The same job from the `dagster` command line (its default filesystem IO manager)."""
    folder = tmp_path / "scenarios"
    _write(
        folder,
        "cli_smoke",
        [
            {"do": "git_init"},
            {"do": "copy", "from": "sei.yaml", "to": "sei.yaml"},
            {"do": "commit", "message": "declare"},
        ],
    )
    defs = tmp_path / "defs.py"
    defs.write_text(
        "import dagster as dg\nfrom sei_assets.scenarios import scenario_jobs\n"
        "defs = dg.Definitions(jobs=scenario_jobs())\n"
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "SEI_SCENARIOS_DIR": str(folder),
        "DAGSTER_HOME": str(home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "job", "execute", "-f", str(defs), "-j", "scenario_cli_smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RUN_SUCCESS" in proc.stdout + proc.stderr
    (workdir,) = (state / "scenarios").iterdir()
    assert (workdir / "repo" / ".git").is_dir() and (workdir / "repo" / "sei.yaml").is_file()
