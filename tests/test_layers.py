"""The architecture holds: import-linter's contracts, and definitions that load without side
effects (no seeding, no subprocess, no environment writes; a bad manifest or scenario file is
shown, not fatal)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sei_assets.core.registry import load_registry

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent
LOAN = ROOT / "resources" / "loan"


def test_import_contracts_are_kept() -> None:
    """`lint-imports` (contracts in pyproject.toml): the core imports no front and no Dagster,
    typer or rich; the fronts meet only in the core."""
    tool = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(tool)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "5 kept, 0 broken" in proc.stdout


def _registry(tmp_path: Path, systems: dict[str, dict]) -> Path:
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": [{"name": n, **v} for n, v in systems.items()]}))
    return path


def test_loading_seeds_nothing_and_runs_nothing(tmp_path: Path, monkeypatch) -> None:
    """An unseeded system still gets its whole graph (from its seed's manifest); its
    repository is not created and the environment is not written."""
    from sei_assets.core import declarations
    from sei_assets.defs import build_definitions

    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))
    repo = tmp_path / "loan"
    registry = _registry(tmp_path, {"loan": {"repo": str(repo), "seed": str(LOAN)}})
    before = dict(os.environ)
    defs = build_definitions(load_registry(registry))
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["loan", "evidence_bundle"]) in graph.get_all_asset_keys()
    own = [k for k in graph.asset_check_keys if k.asset_key.path[0] == "loan"]
    gaps = [k for k in own if k.name.startswith("no_gaps_in_")]
    assert {k.asset_key.path[1] for k in gaps} == {"conformance"}  # one per standard
    post = [k for k in own if k.asset_key.path[1] in ("monitoring", "incidents")]
    assert len(own) - len(gaps) - len(post) == 10 + 1 + 1  # controls, signature, manifest_valid
    # post-market (the loan system declares monitoring.source): 3 measures, the deadlines
    assert len(post) == 3 + 1
    assert not repo.exists()
    assert dict(os.environ) == before
    assert not declarations.prepared_path(load_registry(registry)[0]).exists()  # nor prepared
    # the explicit step seeds it
    sei = Path(sys.executable).parent / "sei"
    proc = subprocess.run(
        [str(sei), "init", "--systems", str(registry), "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"seeded": ["loan"], "prepared": ["loan"], "not_prepared": {}}
    assert (repo / ".git").is_dir() and (repo / "sei.yaml").is_file()


def test_a_bad_manifest_shows_as_a_failed_check_and_spares_the_others(tmp_path: Path) -> None:
    from sei_assets.defs import build_definitions

    good, bad = tmp_path / "good", tmp_path / "bad"
    for d in (good, bad):
        d.mkdir()
        shutil.copy(LOAN / "sei.yaml", d / "sei.yaml")
    text = (bad / "sei.yaml").read_text().replace("risk:", "risk:\n  apetite: 1", 1)
    (bad / "sei.yaml").write_text(text)
    registry = _registry(tmp_path, {"good": {"repo": str(good)}, "bad": {"repo": str(bad)}})
    defs = build_definitions(load_registry(registry))
    checks = {(k.asset_key.path[0], k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert ("good", "unfair_credit_exclusion") in checks
    assert ("bad", "manifest_valid") in checks
    assert not any(s == "bad" and n == "unfair_credit_exclusion" for s, n in checks)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(["bad", "assessment_plan"])],
            raise_on_error=False,
        )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "manifest_valid" and not evaluation.passed
    error = evaluation.metadata["error"].value
    assert "bad/sei.yaml:" in error and "apetite" in error and "did you mean 'appetite'" in error


def test_a_malformed_scenario_file_does_not_take_the_location_down(tmp_path: Path) -> None:
    from sei_assets.scenarios import all_scenario_jobs, invalid_scenario_jobs

    for p in (ROOT / "scenarios").glob("loan*.json"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "broken.json").write_text('{"name": "broken", "steps": [{"do": "nope"}]')
    jobs, problems = all_scenario_jobs(tmp_path)
    assert [p.name for p, _ in problems] == ["broken.json"]
    assert len(jobs) == len(list((ROOT / "scenarios").glob("loan*.json")))
    (refusal,) = invalid_scenario_jobs(problems)
    result = refusal.execute_in_process(raise_on_error=False)
    assert not result.success
    assert "broken.json" in refusal.description


def test_the_cli_instance_is_quiet(tmp_path: Path) -> None:
    """`sei compile` creates its instance with telemetry off: no banner in the CLI's output;
    the exit code is the run's outcome."""
    from tests.reference import replay

    replay("quickstart", tmp_path / "qs", upto=8)
    home = tmp_path / "dagster-home"
    env = dict(os.environ, DAGSTER_HOME=str(home))
    sei = Path(sys.executable).parent / "sei"
    proc = subprocess.run(
        [str(sei), "compile", "--repo", str(tmp_path / "qs")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "compiled 2 controls" in proc.stdout
    assert "Telemetry" not in proc.stdout + proc.stderr
    assert "enabled: false" in (home / "dagster.yaml").read_text()


def test_building_pauses_the_collector_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    """The collector is paused while the definitions are built (bench/README.md) and what
    was built is frozen; whether it runs afterwards is as the caller had it."""
    import gc

    from sei_assets.defs import build_definitions, paused_collection

    registry = _registry(tmp_path, {"loan": {"repo": str(tmp_path / "loan"), "seed": str(LOAN)}})
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            frozen = gc.get_freeze_count()
            build_definitions(load_registry(registry))
            assert gc.isenabled() is enabled
            assert gc.get_freeze_count() > frozen
            with paused_collection():
                assert not gc.isenabled()
        finally:
            gc.enable()
