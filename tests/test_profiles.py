"""Process profiles (seed 002): the model_release suite through the control plane, with real
git, DVC and signatures; idempotency under two concurrent submitter processes; malformed
profiles and scenarios refused before anything runs; the Dagster job and suite asset.

The suite (16 scenarios) runs once per session (one real `dvc repro` of the loan system in
happy_path, the others on shipped metrics): about 55 s of CPU; the whole file about 80 s of CPU
(measured: `time .venv/bin/python -m pytest -p no:xdist -q tests/test_profiles.py`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from sei_assets.core import signing
from sei_assets.core.control import ProfileError, ledger_state, load_profile
from sei_assets.core.control import suite as suites
from sei_assets.core.control.ledger import Ledger, ledger_path
from sei_assets.core.control.profile import profiles_dir
from sei_assets.core.paths import resources_dir
from sei_assets.core.registry import SYSTEMS_ENV
from sei_assets.core.workspace import seed_repository
from sei_assets.scenarios.dialects.profiles import (
    ProfileScenarioError,
    load_scenario,
    load_suite,
)
from sei_assets.scenarios.dialects.profiles.runner import run_suite

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs


@pytest.fixture(autouse=True, scope="module")
def _repository_dvc_cache():
    """The profiles' hooks run in the OS sandbox, where only the repository is writable: DVC
    keeps its cache in the repository here, not in the session's shared cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DVC_GLOBAL_CONFIG_DIR", raising=False)
        yield


ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "scenarios" / "profiles"
SHIPPED = profiles_dir() / "model_release.yaml"
SEI = str(Path(sys.executable).with_name("sei"))
AGENT = {"id": "agent-1", "role": "agent"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    """The conftest's isolated key, state and git identity, for module-scoped fixtures."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEI_SIGNING_KEY", str(base / "keys" / "signing-key.pem"))
        mp.setenv("SEI_STATE_DIR", str(base / "sei-state"))
        for kind in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{kind}_NAME", "Test Assessor")
            mp.setenv(f"GIT_{kind}_EMAIL", "assessor@example.test")
        yield base


@pytest.fixture(scope="module")
def suite_run(env, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The shipped suite of model_release, run once and signed. Under pytest-xdist the first
    worker to need it runs it and the others take a copy of its signed result (file lock)."""
    profile = load_profile("model_release")
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run_suite(profile, load_suite(profile, ROOT / "scenarios"))
    shared = tmp_path_factory.getbasetemp().parent / "profile-suite"
    shared.mkdir(exist_ok=True)
    names = (suites.RESULT, suites.RESULT + ".sig", signing.PUBKEY_FILE)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / suites.RESULT).is_file():
            doc, path = run_suite(profile, load_suite(profile, ROOT / "scenarios"))
            for name in names:
                shutil.copyfile(path.parent / name, shared / name)
            return doc, path
    mine = suites.results_dir(profile)
    mine.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(shared / name, mine / name)
    return json.loads((mine / suites.RESULT).read_text()), mine / suites.RESULT


def _suite_copy(base: Path, *names: str) -> Path:
    """A scenarios folder holding ``profiles/`` with some of the shipped scenarios."""
    folder = base / "profiles"
    folder.mkdir(parents=True)
    (folder / "fixtures").symlink_to(SUITE / "fixtures")
    for name in names:
        (folder / f"{name}.json").write_text((SUITE / f"{name}.json").read_text())
    return base


def _scenario(doc: dict[str, Any], cls: str) -> dict[str, Any]:
    (found,) = [s for s in doc["scenarios"] if s["class"] == cls]
    return found


@pytest.mark.parametrize("cls", suites.REQUIRED_CLASSES + suites.GENERATED_CLASSES)
def test_every_required_class_has_a_passing_scenario(suite_run, cls: str) -> None:
    doc, _path = suite_run
    scenario = _scenario(doc, cls)
    assert scenario["ok"], scenario["failures"]
    assert len(scenario["steps"]) == len(load_scenario(Path(scenario["file"])).steps)


def test_suite_result_records_what_the_seed_asks(suite_run) -> None:
    doc, path = suite_run
    profile = load_profile("model_release")
    assert doc["status"] == "green" and doc["missing_classes"] == []
    assert doc["profile"] == {"id": "model_release", "version": "0.1.0", "sha256": profile.sha256}
    happy = _scenario(doc, "happy_path")
    assert happy["routes"] == [
        "Continue", "MaterializeMock", "Materialize", "Continue", "Continue", "Continue",
        "MaterializeMock", "Materialize", "Complete",
    ]  # fmt: skip
    assert [s["index"] for s in happy["steps"]] == list(range(9))
    assert set(happy["evidence_refs"]) == {
        ".sei/bundle.json",
        ".sei/release.json",
        ".sei/control/completion_report.json",
    }
    (hook,) = happy["hook_calls"]
    assert hook["exit_code"] == 0 and "--no-repro" not in hook["command"]
    assert "dvc.lock" in hook["wrote"] and hook["outside_authority"] == []
    plans = [m for m in happy["materialization"] if m["plan"]["alias"] == "champion"]
    assert [m["materialized"] for m in plans] == [False, True]
    fired = {g["id"] for g in _scenario(doc, "blocked_hard_rule")["gates_fired"]}
    assert fired == {
        "promotion_requires_green_or_accepted_residual",
        "approval_requires_green_gate",
    }
    envelope = json.loads(path.with_name(path.name + ".sig").read_text())
    pubkey = (path.parent / signing.PUBKEY_FILE).read_text()
    assert signing.verify_file(path, pubkey, name=suites.RESULT).ok
    assert envelope["payloadType"] == signing.PAYLOAD_TYPE


def test_happy_path_promotes_the_loan_model_for_real(suite_run) -> None:
    repo = Path(_scenario(suite_run[0], "happy_path")["repo"])
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    release = json.loads((repo / ".sei" / "release.json").read_text())
    registry = json.loads((repo / ".sei" / "control" / "registry.json").read_text())
    assert bundle["gate"] == "green" and release["gate"] == "green"
    assert release["model_digest"] == "sha256:" + _sha(repo / "model.pkl")
    assert registry["champion"]["bundle_digest"] == release["bundle_digest"]
    verdict = signing.verify_evidence(repo)
    assert verdict.ok and {"control/registry.json", "release.json"} <= {
        f.path.relative_to(repo / ".sei").as_posix() for f in verdict.files
    }
    from sei_assets.core.governance import lifecycle

    assert lifecycle(repo)["state"] == "approved" and not lifecycle(repo)["stale"]
    report = json.loads((repo / ".sei" / "control" / "completion_report.json").read_text())
    assert report["release"] == release and report["actor"] == AGENT
    assert (repo / "reports" / "release.md").is_file()
    state = ledger_state(repo)
    assert state["release.promote"]["route"] == "Materialize"
    assert state["release.complete"]["route"] == "Complete"


def _sha(path: Path) -> str:
    from sei_assets.core.fsutil import sha256_file

    return sha256_file(path)


def test_red_model_is_released_only_on_accepted_residual(suite_run) -> None:
    repo = Path(_scenario(suite_run[0], "blocked_hard_rule")["repo"])
    release = json.loads((repo / ".sei" / "release.json").read_text())
    assert release["gate"] == "red" and release["residual_accepted"].startswith("red gate:")
    registry = json.loads((repo / ".sei" / "control" / "registry.json").read_text())
    assert list(registry) == ["challenger"]


def test_failed_preflight_and_hook_write_nothing(suite_run) -> None:
    doc = suite_run[0]
    pre = _scenario(doc, "materialization_preflight")
    repo = Path(pre["repo"])
    refused = [s for s in pre["steps"] if s["answer"]["gate_id"] == "materialization_preflight"]
    assert len(refused) == 3 and all(s["artifacts_written"] == [] for s in refused)
    assert all(s["hook"] is None for s in refused)
    treatment = (resources_dir() / "loan" / "treatment" / "train.py").read_bytes()
    assert (repo / "train.py").read_bytes() == treatment
    assert not (repo.parent / "release.md").exists()
    registry = json.loads((repo / ".sei" / "control" / "registry.json").read_text())
    assert list(registry) == ["champion"]
    hook = _scenario(doc, "hook_failure")
    repo = Path(hook["repo"])
    (call,) = hook["hook_calls"]
    assert (
        call["failed"]
        and call["exit_code"] == 2
        and "metrics.json does not exist" in call["stderr_tail"]
    )
    assert not (repo / ".sei" / "bundle.json").exists()
    assert hook["steps"][1]["answer"]["reason"].startswith("hook sei_run failed (exit 2)")


def test_replay_does_nothing_again(suite_run) -> None:
    replay = _scenario(suite_run[0], "idempotency_replay")
    ledger = Ledger(Path(replay["repo"]))
    try:
        entries = ledger.entries()
    finally:
        ledger.close()
    assert [e["trace"].get("replay_of") for e in entries] == [None, 1, None, 3]
    assert [e["idempotency_key"] for e in entries] == ["release-1", None, "promote-1", None]
    assert entries[1]["answer"] == {**entries[0]["answer"], "idempotent_replay": True}


def test_approval_for_use_needs_a_green_signed_result(suite_run, env) -> None:
    profile = load_profile("model_release")
    by = "Quality Lead <quality@example-loan.test>"
    answer = suites.approve_for_use(profile, by, "agent")
    assert (answer["route"], answer["gate_id"]) == ("AskUser", "approval_for_use_requires_approval")
    assert suites.approve_for_use(profile, by, "management")["status"] == "ok"
    assert suites.approved_for_use(profile)
    from sei_assets.core.control import submit

    repo = Path(_scenario(suite_run[0], "idempotency_conflict")["repo"])
    strict = submit(repo, profile, "release.request", AGENT, {"reason": "V2"}, None, True)
    assert (strict.answer["status"], strict.answer["route"]) == ("ok", "Continue")
    path = suite_run[1]
    original = path.read_bytes()
    try:
        doc = json.loads(original)
        doc["status"] = "green "
        path.write_text(json.dumps(doc))
        assert not suites.approved_for_use(profile)
        refused = suites.approve_for_use(profile, by, "management")
        assert refused["route"] == "Block" and "signature does not verify" in refused["reason"]
        strict = submit(repo, profile, "release.request", AGENT, {"reason": "V2"}, None, True)
        assert strict.answer["gate_id"] == "profile_not_approved_for_use"
    finally:
        path.write_bytes(original)
    assert suites.approved_for_use(profile)


def test_approval_for_use_without_a_suite_instructs_agent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))
    profile = load_profile("model_release")
    answer = suites.approve_for_use(
        profile, "Quality Lead <quality@example-loan.test>", "management"
    )
    assert (answer["status"], answer["route"]) == ("nok", "InstructAgent")
    assert answer["gate_id"] == "missing_scenario_suite" and "sei profile run" in answer["reason"]
    assert not suites.approved_for_use(profile)


def test_a_generated_pack_needs_the_generated_classes(tmp_path: Path, sei) -> None:
    path = _broken(tmp_path, lambda d: d.update(generated=True))
    partial = _suite_copy(tmp_path / "partial", *suites.REQUIRED_CLASSES)
    code, doc = sei.json("profile", "validate", str(path), "--suite", str(partial))
    assert code == 1 and doc["missing_classes"] == list(suites.GENERATED_CLASSES)
    code, doc = sei.json("profile", "validate", "--suite", str(partial))
    assert code == 0  # a hand-written profile needs only the ten
    code, doc = sei.json("profile", "validate", str(path), "--suite", str(ROOT / "scenarios"))
    assert code == 0 and doc["missing_classes"] == []


# --------------------------------------------------------------------------- concurrency

SLOW_PROFILE = """
id: slow_work
version: 1.0.0
title: Slow work
description: One action whose hook takes a while and counts its own runs.
roles: {agent: does the work}
authority: {writes: ["out/**"]}
artifacts:
  done: {path: out/done.json}
completion_artifact: done
hooks:
  count:
    command: ["{python}", "-c", "import time, pathlib; time.sleep(1.5); p = pathlib.Path('out');
      p.mkdir(exist_ok=True); f = p / 'runs.txt'; f.write_text(f.read_text() + 'run' + chr(10)
      if f.exists() else 'run' + chr(10))"]
    authority: {writes: ["out/**"]}
actions:
  work.do:
    description: Do the work once.
    roles: [agent]
    payload: {what: {type: string, required: true}}
    hook: count
    produces: [done]
    route: Complete
"""


def test_a_hook_writing_outside_its_authority_blocks(tmp_path: Path) -> None:
    from sei_assets.core.control import submit

    profile = tmp_path / "slow_work.yaml"
    profile.write_text(
        SLOW_PROFILE.replace("time.sleep(1.5); p = pathlib.Path('out')", "p = pathlib.Path('.')")
    )
    repo = tmp_path / "system"
    repo.mkdir()
    sub = submit(repo, load_profile(profile), "work.do", AGENT, {"what": "a"}, trust_hooks=True)
    assert (sub.answer["status"], sub.answer["route"]) == ("nok", "Block")
    assert (sub.answer["gate_id"], sub.answer["gate_type"]) == ("hook_authority.count", "hard_rule")
    assert "runs.txt" in sub.answer["reason"] and sub.trace["hook"]["outside_authority"]
    assert not (repo / "out" / "done.json").exists()  # the effect did not run


def _submit_together(repo: Path, profile: Path, payloads: list[str]) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [
                SEI,
                "control",
                "submit",
                "work.do",
                "--actor",
                "agent-1",
                "--role",
                "agent",
                "--payload",
                payload,
                "--idempotency-key",
                "work-1",
                "--profile",
                str(profile),
                "--trust-hooks",
                "--repo",
                str(repo),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for payload in payloads
    ]
    answers = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (0, 1), stderr
        answers.append(json.loads(stdout))
    return answers


@pytest.mark.parametrize("conflict", [False, True], ids=["replay", "conflict"])
def test_two_concurrent_submitters(tmp_path: Path, conflict: bool) -> None:
    profile = tmp_path / "slow_work.yaml"
    profile.write_text(SLOW_PROFILE)
    repo = tmp_path / "system"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    payloads = ['{"what": "a"}', '{"what": "b"}' if conflict else '{"what": "a"}']
    answers = _submit_together(repo, profile, payloads)
    assert (repo / "out" / "runs.txt").read_text() == "run\n"  # the hook ran once
    first = next(a for a in answers if a["status"] == "ok" and not a["idempotent_replay"])
    (second,) = [a for a in answers if a is not first]
    assert first["route"] == "Complete" and first["completion_report_exists"]
    if conflict:
        assert (second["status"], second["route"], second["gate_id"]) == (
            "nok", "Block", "idempotency_conflict",
        )  # fmt: skip
    else:
        assert second == {**first, "idempotent_replay": True}
    # the ledger survives the processes: a third submitter, later, gets the same verdict
    (third,) = _submit_together(repo, profile, [payloads[answers.index(second)]])
    assert third == second
    assert (repo / "out" / "runs.txt").read_text() == "run\n"


# --------------------------------------------------------------------------- refusals


def _broken(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(SHIPPED.read_text())
    edit(doc)
    path = tmp_path / "model_release.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


BREAKAGES = [
    (lambda d: d.pop("version"), "version", "invalid_profile_schema", "Field required"),
    (
        lambda d: d["actions"]["release.promote"].update(route="Ship"),
        "actions[release.promote].route",
        "invalid_profile_schema",
        "Input should be",
    ),
    (
        lambda d: d["hooks"]["sei_run"]["authority"]["writes"].append("train.py"),
        "hooks.sei_run.authority.writes[11]",
        "unsafe_hook_authority",
        "unsafe hook authority: 'train.py'",
    ),
    (
        lambda d: d["actions"]["evidence.verify"].pop("description"),
        "actions[evidence.verify].description",
        "missing_docs",
        "documentation is required",
    ),
    (
        lambda d: d["actions"]["release.complete"].update(route="Continue"),
        "actions",
        "incomplete_process_model",
        "no action takes the Complete route",
    ),
    (
        lambda d: d["gates"][0].update(requires=["release_ticket"]),
        "gates[0].requires[0]",
        "incomplete_process_model",
        "artifact 'release_ticket' is not declared",
    ),
]


@pytest.mark.parametrize("edit,field,kind,reason", BREAKAGES, ids=[b[2] + b[1] for b in BREAKAGES])
def test_malformed_profile_is_refused(tmp_path: Path, sei, edit, field, kind, reason) -> None:
    path = _broken(tmp_path, edit)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    exc = caught.value
    assert (exc.file, exc.key_path, exc.kind) == (str(path), field, kind)
    assert reason in exc.expected and exc.line is not None
    result = sei("profile", "validate", str(path), "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["status"] == "nok" and doc["field"] == field
    assert doc["route"] == ("AskUser" if kind == "incomplete_process_model" else "Block")
    assert f"{path}:{exc.line}: {field}: " in doc["reason"]
    repo = tmp_path / "system"
    repo.mkdir()
    args = ["control", "submit", "release.request", "--actor", "a", "--role", "agent"]
    result = sei(
        *args, "--payload", '{"reason": "V2"}', "--profile", str(path), "--repo", str(repo)
    )
    assert result.exit_code == 2 and field in result.output
    assert not ledger_path(repo).exists()  # refused before the plane did anything


@pytest.mark.parametrize(
    "inner,expected",
    [
        (".sei/**", True),
        (".sei/control/*.json", True),
        ("sei.lock", True),
        ("reports/2026/summary.md", True),
        ("train.py", False),
        ("*", False),
        ("**", False),
        (".sei/../train.py", False),
        ("/etc/passwd", False),
    ],
)
def test_hook_authority_must_lie_within_the_profile(inner: str, expected: bool) -> None:
    from sei_assets.core.control.profile import covers

    assert covers((".sei/**", "sei.lock", "reports/**"), inner) is expected


def _scenario_doc(**steps_edit: Any) -> dict[str, Any]:
    doc = json.loads((SUITE / "idempotency_replay.json").read_text())
    doc["steps"][1].update(steps_edit)
    return doc


@pytest.mark.parametrize(
    "doc,field,reason,on_line",
    [
        (_scenario_doc(action="release.ship"), "steps[1].action", "not an action", "release.ship"),
        (
            _scenario_doc(expectation={"status": "ok"}),
            "steps[1].expectation.route",
            "required",
            '"expectation"',
        ),
        (
            _scenario_doc(expectation={"status": "ok", "route": "Continue", "colour": "red"}),
            "steps[1].expectation.colour",
            "the plane does not answer it",
            '"colour"',
        ),
        (
            _scenario_doc(actor={"id": "agent-1"}),
            "steps[1].actor",
            "exactly `id` and `role`",
            '"actor"',
        ),
        (
            {**_scenario_doc(), "profile_version": "9.9.9"},
            "profile_version",
            "is at version",
            "9.9.9",
        ),
        (
            {**_scenario_doc(), "system": {"roster": {"Mallory <m@evil.test>": ["admin"]}}},
            "system.roster[Mallory <m@evil.test>]",
            "expected a list of roles among management, risk_owner",
            "Mallory",
        ),
    ],
)
def test_malformed_scenario_is_refused_before_anything_runs(
    tmp_path: Path, sei, doc: dict, field: str, reason: str, on_line: str
) -> None:
    folder = _suite_copy(tmp_path / "suite", "idempotency_conflict") / "profiles"
    bad = folder / "zzz_bad.json"
    bad.write_text(json.dumps(doc, indent=2))
    with pytest.raises(ProfileScenarioError) as caught:
        load_suite(load_profile("model_release"), tmp_path / "suite")
    assert (caught.value.file, caught.value.field) == (str(bad), field)
    assert reason in caught.value.reason
    line = caught.value.line
    assert line is not None and str(caught.value).startswith(f"{bad}:{line}: {field}: ")
    assert on_line in bad.read_text().splitlines()[line - 1]
    state = Path(os.environ["SEI_STATE_DIR"])
    before = sorted((state / "scenarios").glob("*")) if (state / "scenarios").is_dir() else []
    result = sei("profile", "run", "--suite", str(tmp_path / "suite"))
    assert result.exit_code == 2 and str(bad) in result.output and field in result.output
    after = sorted((state / "scenarios").glob("*")) if (state / "scenarios").is_dir() else []
    assert after == before  # not even the good scenario's workspace was made
    from sei_assets.scenarios import all_scenario_jobs

    jobs, problems = all_scenario_jobs(tmp_path / "suite")
    assert [p for p, _ in problems] == [bad]
    assert [j.name for j in jobs] == ["profile_model_release__idempotency_conflict"]


def test_schema_file_is_what_the_plane_builds() -> None:
    from jsonschema import Draft202012Validator

    from sei_assets.scenarios.dialects.profiles.schema import build_schema, render, schema_path

    assert schema_path().read_text() == render(build_schema()), (
        "run: python -m sei_assets.scenarios.dialects.profiles.schema --write"
    )
    validator = Draft202012Validator(build_schema())
    files = sorted(p for p in SUITE.glob("*.json") if not p.name.endswith(".schema.json"))
    assert len(files) >= len(suites.REQUIRED_CLASSES)
    for path in files:
        assert not list(validator.iter_errors(json.loads(path.read_text()))), path
    wrong = json.loads((SUITE / "idempotency_replay.json").read_text())
    wrong["steps"][0]["expectation"]["route"] = "Ship"
    assert list(validator.iter_errors(wrong))


def test_validate_names_a_missing_class(tmp_path: Path, sei) -> None:
    _suite_copy(tmp_path, "idempotency_replay", "idempotency_conflict")
    code, doc = sei.json("profile", "validate", "--suite", str(tmp_path))
    assert code == 1 and doc["route"] == "InstructAgent"
    assert doc["gate_id"] == "missing_scenario_suite"
    assert doc["missing_classes"][0] == "happy_path" and "hook_failure" in doc["missing_classes"]
    assert "idempotency_replay" not in doc["missing_classes"]
    code, doc = sei.json("profile", "validate", "--suite", str(ROOT / "scenarios"))
    assert code == 0 and doc["missing_classes"] == [] and doc["route"] == "Continue"


def test_cli_submit_answers_exactly_the_seed_fields(tmp_path: Path, sei, monkeypatch) -> None:
    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))  # no suite result, no approval
    repo = seed_repository(resources_dir() / "loan", tmp_path / "loan")
    payload = tmp_path / "payload.json"
    payload.write_text('{"reason": "V2"}')
    args = ["control", "submit", "release.request", "--actor", "agent-1", "--role", "agent"]
    # every action needs the profile approved for use, by default: here it is not
    code, answer = sei.json(*args, "--payload", f"@{payload}", "--repo", str(repo))
    assert code == 1 and answer["gate_id"] == "profile_not_approved_for_use"
    assert answer["reason"].startswith("release.request is an action of profile model_release")
    assert "no suite result" in answer["reason"] and "--allow-unapproved" in answer["reason"]
    opted_out = [*args, "--allow-unapproved"]
    code, answer = sei.json(*opted_out, "--payload", f"@{payload}", "--repo", str(repo))
    assert code == 0
    assert answer == {
        "status": "ok", "route": "Continue", "gate_id": None, "gate_type": None, "reason": None,
        "missing_artifacts": [], "completion_report_exists": False, "idempotent_replay": False,
    }  # fmt: skip
    code, answer = sei.json(*opted_out, "--payload", "{}", "--repo", str(repo))
    assert code == 1 and (answer["route"], answer["gate_id"]) == ("AskUser", "required_input")
    result = sei(*opted_out, "--payload", "{not json", "--repo", str(repo))
    assert result.exit_code == 2 and "--payload: not valid JSON (line 1" in result.output
    code, state = sei.json("control", "ledger", "--repo", str(repo))
    assert state["release.request"]["gate_id"] == "required_input"
    assert state["release.request"]["seq"] == 3
    strict = [*args, "--payload", f"@{payload}", "--repo", str(repo), "--require-approved"]
    code, answer = sei.json(*strict)
    assert code == 1 and answer["gate_id"] == "profile_not_approved_for_use"


def test_a_shipped_profile_is_approved_by_its_green_signed_suite_result(suite_run) -> None:
    """No flag and no management approval: the shipped profile's green, signed suite result
    is its approval for use (the plane's default)."""
    from sei_assets.core.control import submit

    profile = load_profile("model_release")
    repo = Path(_scenario(suite_run[0], "idempotency_conflict")["repo"])
    sub = submit(repo, profile, "release.request", AGENT, {"reason": "V2"})
    assert (sub.answer["status"], sub.answer["route"]) == ("ok", "Continue")


def test_every_action_of_an_unapproved_profile_is_refused(tmp_path: Path) -> None:
    """A profile nobody approved (not shipped, no suite result): an action without a hook is
    refused by default and runs under the explicit opt-out; a hook needs approval (or
    --trust-hooks) even then."""
    from sei_assets.core.control import submit

    doc = yaml.safe_load(SHIPPED.read_text())
    doc["id"] = "copied_release"
    path = tmp_path / "copied_release.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    loaded = load_profile(path)
    repo = seed_repository(resources_dir() / "loan", tmp_path / "loan")
    refused = submit(repo, loaded, "release.request", AGENT, {"reason": "V2"})
    assert (refused.answer["route"], refused.answer["gate_id"]) == (
        "Block", "profile_not_approved_for_use",
    )  # fmt: skip
    assert "profile copied_release" in refused.answer["reason"]
    assert "it is not approved for use" in refused.answer["reason"]
    opted_out = submit(repo, loaded, "release.request", AGENT, {"reason": "V2"}, None, False)
    assert (opted_out.answer["status"], opted_out.answer["route"]) == ("ok", "Continue")
    hooked = next(n for n, a in loaded.profile.actions.items() if a.hook is not None)
    blocked = submit(repo, loaded, hooked, AGENT, {"dry_run": True}, None, False)
    assert blocked.answer["gate_id"] == "profile_not_approved_for_use"
    assert f"{hooked} runs the hook" in blocked.answer["reason"]
    assert "--trust-hooks" in blocked.answer["reason"]
    # the built-in actions need no approval: they are how a profile is approved
    checked = submit(repo, loaded, "profile.validate", AGENT, {})
    assert checked.answer["gate_id"] != "profile_not_approved_for_use"


def test_the_plane_imports_no_front() -> None:
    code = (
        "import sys\n"
        "import sei_assets.core.control.plane, sei_assets.core.control.suite\n"
        "import sei_assets.scenarios.dialects.profiles.runner\n"
        "print(sorted(m for m in ('dagster', 'typer', 'rich') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- Dagster


def test_dagster_job_of_a_profile_scenario(tmp_path: Path, env) -> None:
    from sei_assets.scenarios.dialects.profiles.jobs import build_job

    scenario = load_scenario(SUITE / "idempotency_conflict.json")
    job = build_job(scenario)
    assert job.graph.node_names() == [scenario.op_name(i) for i in range(3)]
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success
        last = result.output_for_node(scenario.op_name(2))
        assert last["answer"]["gate_id"] == "idempotency_conflict"
        doc = json.loads((SUITE / "idempotency_conflict.json").read_text())
        doc["steps"][1]["expectation"]["route"] = "Continue"
        wrong = _suite_copy(tmp_path) / "profiles" / "wrong.json"
        wrong.write_text(json.dumps(doc))
        failed = build_job(load_scenario(wrong)).execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not failed.success
        ran = {e.step_key for e in failed.all_events if e.is_step_success}
        assert ran == {scenario.op_name(0)}


def test_suite_asset_checks_one_class_each(tmp_path: Path, env, monkeypatch) -> None:
    from sei_assets.scenarios.dialects.profiles.dagster import profile_definitions

    _suite_copy(tmp_path / "suite", "idempotency_replay")
    monkeypatch.setenv("SEI_SCENARIOS_DIR", str(tmp_path / "suite"))
    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))
    assets, checks = profile_definitions()
    suite_asset = next(a for a in assets if a.key == dg.AssetKey("profile_suite_model_release"))
    assert len(checks) == len(suites.REQUIRED_CLASSES) + len(suites.GENERATED_CLASSES) + 1
    with dg.instance_for_test() as instance:
        result = dg.materialize([suite_asset, *checks], instance=instance, raise_on_error=False)
    verdicts = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert verdicts["class_idempotency_replay"] is True
    assert verdicts["class_happy_path"] is False and verdicts["signed_green_result"] is False
    (mat,) = result.asset_materializations_for_node(suite_asset.op.name)
    assert mat.metadata["status"].value == "red"
    ((scenario_id, ledger),) = mat.metadata["ledgers"].data.items()
    assert ledger["release.promote"]["route"] == "InstructAgent"
    repo = next(Path(r) for r in (tmp_path / "state" / "scenarios").glob("*/repo"))
    systems = tmp_path / "systems.yaml"
    systems.write_text(yaml.safe_dump({"systems": [{"name": "demo", "repo": str(repo)}]}))
    monkeypatch.setenv(SYSTEMS_ENV, str(systems))
    ledgers = next(a for a in assets if a.key == dg.AssetKey("control_ledgers"))
    with dg.instance_for_test() as instance:
        (mat,) = dg.materialize([ledgers], instance=instance).asset_materializations_for_node(
            ledgers.op.name
        )
    shown = mat.metadata["ledgers"].data["demo"]
    assert shown["release.request"] == ledger["release.request"]
    assert scenario_id == "idempotency_replay"


def test_a_json_integer_too_long_to_convert_is_bad_input(tmp_path: Path) -> None:
    """Python refuses to convert an integer of thousands of digits (a ValueError that is not a
    JSONDecodeError): the payload and a scenario file are refused with the file, not a trace."""
    from sei_assets.cli.control import _payload
    from sei_assets.core.errors import SeiError

    text = '{"reason": ' + "1" * 5000 + "}"
    with pytest.raises(SeiError, match="^--payload: not valid JSON: .*digits") as caught:
        _payload(text)
    assert caught.value.exit_code == 2
    scenario = tmp_path / "long.json"
    scenario.write_text(text)
    with pytest.raises(ProfileScenarioError, match="not valid JSON: .*digits"):
        load_scenario(scenario)
