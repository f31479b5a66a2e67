"""Scenario sandbox (issue 18, item 1): every escape the probing found is refused before the
step runs, and a scenario signs with a throwaway key of its own, which its evidence names.

Steps run through the real runner (`execute_step`) on real files; only the `run` test calls the
real `sei run --no-repro` (about 10 s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sei_assets.core.errors import SeiError
from sei_assets.scenarios import ScenarioError, load_scenario
from sei_assets.scenarios.dialects.harness.model import Scenario, Step
from sei_assets.scenarios.dialects.harness.runner import REFUSED, execute_step, new_workspace
from sei_assets.scenarios.dialects.harness.verbs import (
    SandboxError,
    StepContext,
    _check_copy,
    copy,
)
from tests.reference import replay

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

MANIFEST = """apiVersion: sei/v1
kind: AISystem
system:
  name: sandboxed
pipeline:
  tool: dvc
  metrics: metrics.json
oscal:
  assessment_plan: assessment_plan.oscal.yaml
"""


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside every scenario folder that no step may touch."""
    path = tmp_path / "outside" / "victim.yaml"
    path.parent.mkdir()
    path.write_text("seed: 1\n")
    path.chmod(0o644)
    return path


def _scenario(tmp_path: Path, *steps: dict, commands: tuple[str, ...] = ()) -> Scenario:
    return Scenario(
        "sandbox",
        "sandbox test",
        "loan",
        tuple(
            Step(
                i,
                s["do"],
                {k: v for k, v in s.items() if k not in ("do", "expect")},
                s.get("expect", {}),
            )
            for i, s in enumerate(steps)
        ),
        tmp_path / "sandbox.json",
        commands,
    )


def _run_steps(scenario: Scenario, manifest: str = MANIFEST) -> list[dict]:
    state = new_workspace(scenario)
    repo = Path(state["repo"])
    (repo / "sei.yaml").write_text(manifest)
    observations = []
    for i in range(len(scenario.steps)):
        outcome = execute_step(scenario, i, state)
        observations.append(outcome.observation | {"failures": outcome.failures})
        state = outcome.observation["state"]
    return observations


def _fingerprint(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_ino, st.st_mode


def test_dvc_exp_absolute_or_parent_params_file_is_refused_when_loading(
    tmp_path: Path, victim: Path
) -> None:
    for key in (f"{victim}:seed", "../../outside/victim.yaml:seed"):
        path = tmp_path / "escape.json"
        doc = {
            "name": "escape",
            "description": "dvc_exp outside",
            "resource_dir": "loan",
            "steps": [{"do": "dvc_exp", "set_param": {key: 999}}],
        }
        path.write_text(json.dumps(doc))
        with pytest.raises(ScenarioError, match="leaves the working repository"):
            load_scenario(path)


def test_dvc_exp_params_file_through_a_link_is_refused(tmp_path: Path, victim: Path) -> None:
    before = _fingerprint(victim)
    scenario = _scenario(tmp_path, {"do": "dvc_exp", "set_param": {"link.yaml:seed": 999}})
    state = new_workspace(scenario)
    (Path(state["repo"]) / "link.yaml").symlink_to(victim)
    outcome = execute_step(scenario, 0, state)
    assert outcome.observation["exit_code"] == REFUSED
    assert "resolves outside the working repository" in outcome.observation["stderr_tail"]
    assert outcome.failures and "refused" in outcome.failures[0]
    assert _fingerprint(victim) == before  # same bytes, same inode, same mode


def test_dvc_exp_core_refuses_a_params_file_outside_the_repository(
    tmp_path: Path, victim: Path
) -> None:
    from sei_assets.core.reproducers.dvc_exp import run_candidate

    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    before = _fingerprint(victim)
    with pytest.raises(SeiError, match="resolves outside"):
        run_candidate(repo, {f"{victim}:seed": 999})
    assert _fingerprint(victim) == before


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "assessment_plan: assessment_plan.oscal.yaml",
            "assessment_plan: ../../x.oscal.yaml",
            "oscal.assessment_plan",
        ),
        ("metrics: metrics.json", "metrics: /etc/passwd", "pipeline.metrics"),
        ("metrics: metrics.json", "metrics: metrics.json\n  params: ../p.yaml", "pipeline.params"),
    ],
)
def test_edit_sei_cannot_point_a_path_outside(tmp_path: Path, old: str, new: str, field: str):
    scenario = _scenario(tmp_path, {"do": "edit_sei", "replace": [[old, new]]})
    [obs] = _run_steps(scenario)
    assert obs["exit_code"] == REFUSED, obs
    assert field in obs["stderr_tail"]
    assert (Path(obs["state"]["repo"]) / "sei.yaml").read_text() == MANIFEST  # not written


def test_edit_sei_cannot_add_an_undeclared_command(tmp_path: Path) -> None:
    edit = [["tool: dvc", "tool: file\n  command: sh -c 'cat ~/.ssh/id_rsa'"]]
    [obs] = _run_steps(_scenario(tmp_path, {"do": "edit_sei", "replace": edit}))
    assert obs["exit_code"] == REFUSED
    assert "pipeline.command" in obs["stderr_tail"]
    assert "not a command the scenario declares" in obs["stderr_tail"]
    # the same edit with the command declared by the scenario runs
    declared = _scenario(
        tmp_path, {"do": "edit_sei", "replace": edit}, commands=("sh -c 'cat ~/.ssh/id_rsa'",)
    )
    [obs] = _run_steps(declared)
    assert obs["exit_code"] == 0 and obs["ok"]
    assert "tool: file" in (Path(obs["state"]["repo"]) / "sei.yaml").read_text()


def test_scenario_commands_are_part_of_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "declares.json"
    doc = {
        "name": "declares",
        "description": "declares a command",
        "resource_dir": "loan",
        "commands": ["python make_metrics.py"],
        "steps": [{"do": "git_init"}],
    }
    path.write_text(json.dumps(doc))
    assert load_scenario(path).commands == ("python make_metrics.py",)


def test_copy_never_follows_a_link_out_of_the_resources(tmp_path: Path, victim: Path) -> None:
    resources = tmp_path / "resources" / "mine"
    (resources / "folder").mkdir(parents=True)
    (resources / "folder" / "ok.txt").write_text("fine\n")
    (resources / "folder" / "secret").symlink_to(victim)
    (resources / "direct").symlink_to(victim)
    for source in ("folder", "direct"):
        problems = _check_copy({"from": source, "to": "x"}, resources)
        assert problems and ("links out of" in problems[0] or "leaves the resource" in problems[0])
    repo = tmp_path / "repo"
    repo.mkdir()
    ctx = StepContext("mine", 0, repo, resources, dict(os.environ))
    with pytest.raises(SandboxError, match="links out of the resource folder"):
        copy(ctx, {"from": "folder", "to": "copied"})
    assert not (repo / "copied").exists()
    (resources / "folder" / "secret").unlink()
    (resources / "folder" / "inner").symlink_to(resources / "folder" / "ok.txt")
    copy(ctx, {"from": "folder", "to": "copied"})  # a link inside the resources is fine
    assert (repo / "copied" / "inner").read_text() == "fine\n"
    # a link to another resource folder that holds a link out is followed, and refused
    (resources / "other").mkdir()
    (resources / "other" / "secret").symlink_to(victim)
    (resources / "folder" / "hop").symlink_to(resources / "other")
    with pytest.raises(SandboxError, match="links out of the resource folder"):
        copy(ctx, {"from": "folder", "to": "again"})
    assert not (repo / "again").exists()


def test_a_copy_destination_through_a_link_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    scenario = _scenario(tmp_path, {"do": "copy", "from": "params.yaml", "to": "out/params.yaml"})
    state = new_workspace(scenario)
    (Path(state["repo"]) / "out").symlink_to(outside)
    outcome = execute_step(scenario, 0, state)
    assert outcome.observation["exit_code"] == REFUSED
    assert list(outside.iterdir()) == []


def test_expectation_paths_stay_inside(tmp_path: Path, victim: Path) -> None:
    scenario = _scenario(tmp_path, {"do": "git_init", "expect": {"unchanged": ["peek"]}})
    state = new_workspace(scenario)
    (Path(state["repo"]) / "peek").symlink_to(victim)
    outcome = execute_step(scenario, 0, state)
    assert outcome.observation["exit_code"] == REFUSED
    assert "resolves outside" in outcome.failures[0]
    assert not (Path(state["repo"]) / ".git").exists()  # refused before it ran


def test_a_scenario_signs_with_its_own_throwaway_key(tmp_path: Path) -> None:
    """The runner points SEI_SIGNING_KEY into the scenario's state folder; the evidence says
    it was made in a sandbox and verifies with that key, not with the machine's."""
    from sei_assets.core import signing

    machine = signing.load_or_create_key()  # this test's "machine" key (conftest)
    scenario = _scenario(tmp_path, {"do": "run", "no_repro": True, "expect": {"exit": 0}})
    state = new_workspace(scenario)
    key_file = Path(state["env"]["SEI_SIGNING_KEY"])
    assert key_file.is_relative_to(Path(state["workdir"]))
    repo = Path(state["repo"])
    shutil.rmtree(repo)
    replay("quickstart", repo, upto=8)
    outcome = execute_step(scenario, 0, state)
    assert outcome.observation["ok"], outcome.failures
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    assert bundle["sandbox"]["scenario"] == "sandbox"
    assert "throwaway" in bundle["sandbox"]["signing_key"]
    assert key_file.is_file()
    throwaway = signing.public_key_hex(signing.load_or_create_key(key_file))
    assert throwaway != signing.public_key_hex(machine)
    assert (repo / ".sei" / "PUBKEY.txt").read_text().strip() == throwaway
    pinned = subprocess.run(
        [str(Path(sys.executable).parent / "sei"), "verify", "--repo", str(repo), "--pubkey"]
        + [signing.public_key_hex(machine)],
        capture_output=True,
        text=True,
    )
    assert pinned.returncode == 1  # the machine's key does not vouch for scenario evidence
