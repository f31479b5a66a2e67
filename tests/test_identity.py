"""System identity: a repository is the system registered at its path, or (unregistered) a
system of its own keyed by its root commit and path. A scratch clone of a registered system,
same `system.name` and all, never writes into the registered system's materializations or
prepared declarations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import yaml

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent
LOAN_SEED = ROOT / "resources" / "loan"


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    shutil.copy(LOAN_SEED / "sei.yaml", path / "sei.yaml")
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(path), "-c", "commit.gpgsign=false", "commit", "-qm", "V1"], check=True
    )
    return path


def _latest_plan_path(name: str) -> str:
    from sei_assets.defs.launch import local_instance

    with local_instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey([name, "assessment_plan"]))
    assert event is not None and event.asset_materialization is not None
    return str(event.asset_materialization.metadata["path"].value)


def test_a_scratch_clone_never_writes_into_the_registered_system(
    tmp_path: Path, monkeypatch, sei
) -> None:
    from sei_assets.core import declarations
    from sei_assets.core.registry import load_registry

    registered = _git_repo(tmp_path / "registered")
    registry = tmp_path / "systems.yaml"
    registry.write_text(
        yaml.safe_dump({"systems": [{"name": "loan_scoring", "repo": str(registered)}]})
    )
    monkeypatch.setenv("SEI_SYSTEMS_FILE", str(registry))
    assert sei("compile", "--repo", str(registered)).exit_code == 0
    entry = load_registry()[0]
    prepared = declarations.prepared_path(entry).read_bytes()
    assert _latest_plan_path("loan_scoring").startswith(str(registered))

    scratch = tmp_path / "scratch"
    subprocess.run(["git", "clone", "-q", str(registered), str(scratch)], check=True)
    manifest = scratch / "sei.yaml"  # the clone's own edit: a stricter parity bound
    manifest.write_text(manifest.read_text().replace('"< 0.03"', '"< 0.02"', 1))
    assert sei("compile", "--repo", str(scratch)).exit_code == 0

    assert _latest_plan_path("loan_scoring").startswith(str(registered))
    assert declarations.prepared_path(entry).read_bytes() == prepared


def test_an_unregistered_repository_is_keyed_by_its_root_commit_and_path(
    tmp_path: Path, monkeypatch
) -> None:
    from sei_assets.defs.launch import system_for_repo

    monkeypatch.setenv("SEI_SYSTEMS_FILE", str(tmp_path / "none.yaml"))
    (tmp_path / "none.yaml").write_text("systems: []\n")
    first = _git_repo(tmp_path / "first")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(first), str(clone)], check=True)
    other = _git_repo(tmp_path / "other")
    names = {system_for_repo(r).name for r in (first, clone, other)}
    assert len(names) == 3  # same manifest name, three systems
    assert all(n.startswith("loan_scoring_") for n in names)
    assert system_for_repo(first).name == system_for_repo(first).name  # stable
    # a folder that is not (yet) a git repository is keyed by its path alone
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(LOAN_SEED / "sei.yaml", plain / "sei.yaml")
    assert system_for_repo(plain).name.startswith("loan_scoring_")
    assert system_for_repo(plain).name not in names
