"""Lifecycle and check scenarios aimed at a registered system (`--system NAME`): one that
`sei register` put in the user's own registry, outside any checkout. The lifecycle sandbox is a
copy of the system's repository (history and working tree); the registered repository itself
is only read."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from sei_assets.scenarios.dialects.lifecycle.result import verify_result
from tests.systems import make_system

SLOW = pytest.mark.slow  # real `sei` runs in subprocesses, a Dagster job per scenario

PROJECT = """\
apiVersion: sei/v1
kind: Project
name: registered-systems
providers:
  lifecycle: { evaluate: true }
vars:
  gate: red
"""
SCENARIO = """\
apiVersion: sei/v1
kind: Scenario
name: registered/corrupted-records
description: A byte of the registered system's records corrupted, in its sandbox copy.
setup:
  - run: lifecycle.up
    as: sandbox
  - run: sei.verify
    expect: '.meta.exitCode == 0 and .value.ok == true'
  - run: sei.status
    expect: '.value.stale_classes == [] and .value.gate == "${.vars.gate}"'
  - name: the copy has the system's history
    run: git.log
    expect: '.value | map(.subject) | index("declare credit") != null'
method:
  - phase: "corrupt one byte of the records"
    steps:
      - run: fs.corrupt
        with: { path: data/records.csv, offset: 10 }
      - run: sei.status
        expect: '.value.stale_classes | index("C") != null'
verify:
  - run: sei.status
    expect: '.value.stale_classes | index("C") != null'
"""


def _snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of the repository, .git included, by path."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and "index.lock" not in p.name
    }


@pytest.fixture
def registered(tmp_path: Path, sei, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A red system with signed, committed evidence, registered by `sei register` in the
    user's own registry (no $SEI_SYSTEMS_FILE: the checkout's registry is the one in force)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SEI_SYSTEMS_FILE", raising=False)
    repo = make_system(tmp_path / "credit", "credit", bias=1.0)
    assert sei("run", "--repo", str(repo)).exit_code == 1  # red: the parity gap is too wide
    git = ["git", "-C", str(repo), "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "evidence: red"], check=True)
    (repo / "notes.txt").write_text("uncommitted\n")  # the working tree as it is is copied too
    done = sei("register", "--repo", str(repo), "--json")
    assert done.exit_code == 0, done.stderr
    registry = Path(json.loads(done.stdout)["registry"])
    assert registry == tmp_path / "config" / "sei-assets" / "systems.yaml"
    return repo


@SLOW
def test_a_lifecycle_scenario_runs_on_a_copy_of_a_registered_system(
    tmp_path: Path, sei, registered: Path
) -> None:
    folder = tmp_path / "lifecycle"
    folder.mkdir()
    (folder / "project.yaml").write_text(PROJECT)
    (folder / "corrupted.yaml").write_text(textwrap.dedent(SCENARIO))
    before = _snapshot(registered)

    result = sei("scenario", "run", "--dir", str(folder), "--system", "credit", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    [summary] = json.loads(result.stdout)
    assert summary["verdict"] == "PASSED", summary
    assert summary["system"] == {"name": "credit", "repo": str(registered)}
    doc = json.loads(Path(summary["result"]).read_text())
    assert verify_result(Path(summary["result"]))
    sandbox = doc["outputs"]["sandbox"]["value"]
    assert sandbox["system"] == "credit"
    assert Path(sandbox["repo"]).resolve() != registered.resolve()
    # the sandbox re-signed the system's metrics with its own key, not the user's
    assert sandbox["pubkey"] != (registered / ".sei" / "PUBKEY.txt").read_text().strip()
    # the corruption happened in the copy: the registered repository is byte for byte the same
    assert _snapshot(registered) == before
    assert not Path(sandbox["root"]).exists()  # torn down

    # the project's own scenarios target it too
    shipped = sei(
        "scenario", "run", "resilience/tamper-every-evidence-file", "--system", "credit", "--json"
    )
    assert shipped.exit_code == 0, shipped.stdout + shipped.stderr
    assert json.loads(shipped.stdout)[0]["verdict"] == "PASSED"
    assert _snapshot(registered) == before

    unknown = sei("scenario", "run", "--dir", str(folder), "--system", "nope")
    assert unknown.exit_code == 2
    assert "no system is registered as 'nope'" in unknown.stderr
    assert "credit" in unknown.stderr  # the names it knows


@SLOW
def test_a_check_scenario_targets_a_system_of_the_users_registry(sei, registered: Path) -> None:
    code, doc = sei.json("check", "run", "evidence_verifies", "--system", "credit")
    assert code == 0, doc
    assert doc["systems"]["credit"]["passed"] is True
    assert doc["systems"]["credit"]["platform"] == "file"
    bad = sei("check", "run", "evidence_verifies", "--system", "nope")
    assert bad.exit_code == 2 and "unknown system(s) nope" in bad.stderr


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def test_the_copy_of_a_registered_repository(tmp_path: Path) -> None:
    """History and working tree as they are; no hooks, remote or tool stores; a link out of
    the repository refused."""
    from sei_assets.scenarios.dialects.lifecycle.providers.base import VerbError
    from sei_assets.scenarios.dialects.lifecycle.providers.lifecycle import copy_system

    source = make_system(tmp_path / "src", "src")
    (source / "notes.txt").write_text("uncommitted\n")
    (source / "params.yaml").write_text("bias: 0.5\n")  # a modified tracked file
    for rel in (".dvc/cache/ab/cdef", "mlflow_project/mlflow.db", "mlruns/0/meta.yaml",
                "dagster_pipeline/.dagster_home/history/runs.db"):  # fmt: skip
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text("tool state\n")
    hook = source / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\ntouch hooked\n")
    hook.chmod(0o755)
    _git(source, "config", "core.hooksPath", str(source / ".git" / "hooks"))
    before = _snapshot(source)

    copy = tmp_path / "sandbox" / "repo"
    copy_system(source, copy)
    assert _snapshot(source) == before  # only read
    assert _git(copy, "rev-parse", "HEAD") == _git(source, "rev-parse", "HEAD")
    assert _git(copy, "status", "--porcelain") == " M params.yaml\n?? notes.txt\n"
    assert (copy / "notes.txt").read_text() == "uncommitted\n"
    assert (copy / "params.yaml").read_text() == "bias: 0.5\n"
    assert _git(copy, "remote") == ""  # nothing pushes back into the registered repository
    assert not (copy / ".git" / "hooks" / "post-commit").exists()
    assert "hooksPath" not in _git(copy, "config", "--list", "--local")
    for rel in (
        ".dvc/cache",
        "mlflow_project/mlflow.db",
        "mlruns",
        "dagster_pipeline/.dagster_home",
    ):
        assert not (copy / rel).exists(), rel

    (source / "data" / "outside").symlink_to(tmp_path)
    with pytest.raises(VerbError, match="a link out of the system's repository"):
        copy_system(source, tmp_path / "other" / "repo")
