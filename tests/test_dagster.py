"""The Dagster front: asset graph per system, controls as asset checks, the gate blocks release."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sei_assets.core.registry import SystemEntry
from sei_assets.defs.resources import SeiSettings
from sei_assets.defs.system import system_definitions
from tests.reference import replay
from tests.systems import forge_evidence

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent
LOAN_SEED = ROOT / "resources" / "loan"


def _specs(entry: SystemEntry) -> dict[str, dg.AssetCheckSpec]:
    """The checks on the system's gate (every control and the signature)."""
    assets, checks = system_definitions(entry)
    gate = dg.AssetKey([entry.name, "gate"])
    return {s.name: s for c in [*assets, *checks] for s in c.check_specs if s.asset_key == gate}


def test_checks_generated_from_the_loan_plan(tmp_path: Path) -> None:
    entry = SystemEntry("loan", tmp_path / "absent", seed=LOAN_SEED)
    specs = _specs(entry)
    manifest = yaml.safe_load((LOAN_SEED / "sei.yaml").read_text())
    measures = [
        m
        for r in manifest["risk"]["risks"]
        for t in r["treat"]
        for m in t["measures"]
        if "monitoring" not in m.get("lifecycle", [])
    ]
    assert len(specs) == 10 + 1 and len(measures) == 10
    for m in measures:
        spec = specs[m["id"].replace("-", "_")]
        assert spec.blocking is (m["enforcement"] == "gate"), m["id"]
        assert spec.asset_key == dg.AssetKey(["loan", "gate"])
    assert specs["signature_valid"].blocking
    assert specs["unfair_credit_exclusion"].blocking


def _registry(tmp_path: Path, systems: dict[str, Path]) -> Path:
    path = tmp_path / "systems.yaml"
    path.write_text(
        yaml.safe_dump({"systems": [{"name": n, "repo": str(r)} for n, r in systems.items()]})
    )
    return path


def test_definitions_load_two_registered_systems(tmp_path: Path, monkeypatch) -> None:
    replay("quickstart", tmp_path / "qs", upto=8)
    registry = _registry(tmp_path, {"education": tmp_path / "qs", "loan": tmp_path / "loan"})
    (tmp_path / "loan").mkdir()
    shutil.copy(LOAN_SEED / "sei.yaml", tmp_path / "loan" / "sei.yaml")
    from sei_assets.core.registry import load_registry
    from sei_assets.defs import build_definitions

    defs = build_definitions(load_registry(registry))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for system in ("education", "loan"):
        for leaf in (
            "manifest",
            "dataset",
            "treatment",
            "assessment_plan",
            "pipeline_run",
            "evidence_bundle",
            "release",
        ):
            assert f"{system}/{leaf}" in keys
    checks = {(k.asset_key.path[0], k.name) for k in graph.asset_check_keys}
    assert ("education", "fairness_parity") in checks
    assert ("loan", "unfair_credit_exclusion") in checks
    own = [c for c in checks if c[0] == "education" and not c[1].startswith("no_gaps_in_")]
    assert len(own) == 2 + 1 + 1  # + manifest_valid
    assert ("education", "no_gaps_in_iso_23894_2023") in checks  # its one standard


@pytest.fixture
def education(tmp_path: Path) -> SystemEntry:
    """The reference quickstart at its green run: metrics already there, no pipeline to run."""
    replay("quickstart", tmp_path / "qs", upto=8)
    return SystemEntry("education", tmp_path / "qs")


def _materialize(
    entry: SystemEntry,
    instance,
    selection=None,
    repro_config: bool = True,
    accept_supplied: bool = True,
):
    assets, checks = system_definitions(entry)
    config = {"ops": {f"{entry.name}__system": {"config": {"repro": False}}}}
    if accept_supplied:  # the metrics are the replayed ones (supplied): accepted explicitly
        config["ops"][f"{entry.name}__release"] = {"config": {"accept_supplied_metrics": True}}
    return dg.materialize(
        [*assets, *checks],
        instance=instance,
        raise_on_error=False,
        selection=selection,
        run_config=config if repro_config else None,
        resources={"sei": SeiSettings()},
    )


def test_green_run_materializes_release(education: SystemEntry) -> None:
    with dg.instance_for_test() as instance:
        result = _materialize(education, instance, dg.AssetSelection.groups("education"))
        assert result.success
        evaluations = {
            e.check_name: e.passed
            for e in result.get_asset_check_evaluations()
            if not e.check_name.startswith("no_gaps_in_")
        }
        assert evaluations == {
            "manifest_valid": True,
            "fairness_parity": True,
            "accuracy_floor": True,
            "signature_valid": True,
        }
        assert instance.get_latest_materialization_event(dg.AssetKey(["education", "release"]))
        evidence = instance.get_latest_materialization_event(
            dg.AssetKey(["education", "evidence_bundle"])
        ).asset_materialization.metadata
    # the asset's seal writes the OSCAL assessment results of the bundle it signed; the UI
    # names it as the system's repository does
    assert evidence["assessment_results"].value == ".sei/assessment-results.oscal.json"
    results = education.repo / evidence["assessment_results"].value
    doc = json.loads(results.read_text())["assessment-results"]
    (bundle_resource,) = [
        r for r in doc["back-matter"]["resources"] if r["title"] == "Evidence bundle"
    ]
    bundle_digest = hashlib.sha256((education.repo / ".sei" / "bundle.json").read_bytes())
    assert bundle_resource["rlinks"][0]["hashes"][0]["value"] == bundle_digest.hexdigest()
    release = json.loads((education.repo / ".sei" / "release.json").read_text())
    assert release["gate"] == "green" and release["bundle_digest"].startswith("sha256:")
    assert release["metrics_source"] == "supplied (accepted explicitly)"


def test_supplied_metrics_are_not_released_unless_accepted(education: SystemEntry) -> None:
    with dg.instance_for_test() as instance:
        result = _materialize(
            education, instance, dg.AssetSelection.groups("education"), accept_supplied=False
        )
        [bundle] = [
            m
            for m in result.get_asset_materialization_events()
            if m.asset_key == dg.AssetKey(["education", "evidence_bundle"])
        ]
        assert bundle.materialization.metadata["metrics_source"].value.startswith("supplied")
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_key == "education__release"
        assert "supplied metrics" in failure.step_failure_data.error.to_string()
        # a refusal or a crash is not a red gate: the run says which it is
        tags = instance.get_run_by_id(result.run_id).tags
        assert tags["sei/outcome"] == "error" and tags["sei/gate"] == "green"
    assert not (education.repo / ".sei" / "release.json").exists()


def test_warnings_and_underpowered_passes_are_amber_and_counted(education: SystemEntry) -> None:
    """A warn-level failure and a pass whose interval reaches past its bound are WARN checks
    (amber): the gate stays green, the release goes ahead, the status line counts them, and
    the run carries its verdict, version and name as tags."""
    metrics = json.loads((education.repo / "metrics.json").read_text())
    metrics["accuracy-floor"]["value"] = 0.6  # needs > 0.65, enforcement audit (warn)
    metrics["fairness-parity"]["power"]["ci_high"] = 0.2  # passes (< 0.15), interval past it
    (education.repo / "metrics.json").write_text(json.dumps(metrics))
    with dg.instance_for_test() as instance:
        result = _materialize(education, instance, dg.AssetSelection.groups("education"))
        assert result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        for name in ("fairness_parity", "accuracy_floor"):
            assert checks[name].passed is False, name
            assert checks[name].severity == dg.AssetCheckSeverity.WARN, name
        assert "UNDERPOWERED PASS fairness-parity" in checks["fairness_parity"].description
        assert "interval [0.002942, 0.2]" in checks["fairness_parity"].description
        assert checks["fairness_parity"].metadata["interval"].value == "[0.002942, 0.2]"
        gate = instance.get_latest_materialization_event(dg.AssetKey(["education", "gate"]))
        metadata = gate.asset_materialization.metadata
        assert metadata["status"].value.startswith("GREEN — 1 warning, 1 underpowered pass")
        assert metadata["value/fairness-parity"].value == 0.05476  # 4 significant digits
        assert metadata["bound/fairness-parity"].value == 0.15  # the bound plotted beside it
        release = instance.get_latest_materialization_event(dg.AssetKey(["education", "release"]))
        assert release.asset_materialization.tags["sei/gate"] == "green"
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["sei/gate"] == "green" and "sei/outcome" not in run.tags
        version = run.tags["sei/version"]
        assert run.tags["sei/run"].startswith("education V") and run.tags["sei/run"].endswith(
            f"({version}): GREEN"
        )


def test_red_gate_stops_release_and_keeps_signed_evidence(education: SystemEntry, sei) -> None:
    metrics = json.loads((education.repo / "metrics.json").read_text())
    metrics["fairness-parity"]["value"] = 0.2
    (education.repo / "metrics.json").write_text(json.dumps(metrics))
    with dg.instance_for_test() as instance:
        result = _materialize(education, instance, dg.AssetSelection.groups("education"))
        assert not result.success
        failed = {
            e.check_name: e.severity for e in result.get_asset_check_evaluations() if not e.passed
        }
        # red: the blocking control (ERROR); amber: the gaps of the standard (WARN)
        assert failed == {
            "fairness_parity": dg.AssetCheckSeverity.ERROR,
            "no_gaps_in_iso_23894_2023": dg.AssetCheckSeverity.WARN,
        }
        # the run fails with the verdict as its message, not Dagster's check error
        (failure,) = result.get_step_failure_events()
        error = failure.step_failure_data.error
        assert error.cls_name == "Failure"
        assert "fairness-parity: " in error.message and "= 0.2, needs < " in error.message
        assert failure.step_failure_data.user_failure_data.description.startswith("RED gate")
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["sei/gate"] == "red" and run.tags["sei/outcome"] == "red"
        assert run.tags["sei/run"].startswith("education V") and run.tags["sei/run"].endswith(
            ": RED"
        )
        gate_event = instance.get_latest_materialization_event(dg.AssetKey(["education", "gate"]))
        assert gate_event.asset_materialization.tags["sei/gate"] == "red"
        assert gate_event.asset_materialization.tags["sei/version"] == run.tags["sei/version"]
        materialized = {
            e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
        }
        # governance reads the red evidence in the same run; only the promotion is blocked
        assert {
            "education/evidence_bundle",
            "education/gate",
            "education/risk_cycle",
            "education/impact_assessment",
        } <= materialized
        assert "education/release" not in materialized
        # the auditor's dossier too, red as it is: its open points say why
        assert "education/dossier" in materialized
        dossier = instance.get_latest_materialization_event(
            dg.AssetKey(["education", "dossier"])
        ).asset_materialization.metadata
        assert dossier["status"].value.startswith("gate red;")
        assert dossier["dossier"].value.endswith("/.sei/dossier/dossier.html")
        gate = instance.get_latest_materialization_event(dg.AssetKey(["education", "gate"]))
        status = gate.asset_materialization.metadata["status"].value
        assert status.startswith("RED — release blocked by fairness-parity (0.2, needs < ")
        assert not instance.get_latest_materialization_event(dg.AssetKey(["education", "release"]))
        impact = instance.get_latest_materialization_event(
            dg.AssetKey(["education", "impact_assessment"])
        ).asset_materialization.metadata
        assert isinstance(impact["findings"], dg.TableMetadataValue)
        assert [c.name for c in impact["findings"].schema.columns] == [
            "kind",
            "severity",
            "subject",
            "message",
        ]
        backlog = instance.get_latest_materialization_event(
            dg.AssetKey(["education", "risk_backlog"])
        ).asset_materialization.metadata
        proposed = [r.data["id"] for r in backlog["proposed_risks"].records]
        assert len(proposed) == backlog["proposals"].value
        assert all(p in backlog["status"].value for p in proposed)
    bundle = json.loads((education.repo / ".sei" / "bundle.json").read_text())
    assert bundle["gate"] == "red"
    assert not (education.repo / ".sei" / "release.json").exists()
    assert sei("verify", "--repo", str(education.repo)).exit_code == 0


def test_signature_check_fails_on_tampered_bundle(education: SystemEntry) -> None:
    with dg.instance_for_test() as instance:
        assert _materialize(education, instance, dg.AssetSelection.groups("education")).success
        bundle = education.repo / ".sei" / "bundle.json"
        bundle.write_bytes(bundle.read_bytes().replace(b'"gate": "green"', b'"gate": "greeN"'))
        only_checks = dg.AssetSelection.checks_for_assets(dg.AssetKey(["education", "gate"]))
        result = _materialize(education, instance, only_checks, repro_config=False)
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert evaluations["signature_valid"].passed is False
        assert "altered" in evaluations["signature_valid"].metadata["detail"].value
        assert not result.success  # blocking, ERROR severity


def test_signature_check_refuses_evidence_resigned_with_another_key(
    education: SystemEntry,
) -> None:
    """The check takes the trust decision of `sei verify`, not the repository's PUBKEY.txt."""
    with dg.instance_for_test() as instance:
        assert _materialize(education, instance, dg.AssetSelection.groups("education")).success
        forge_evidence(education.repo)  # self-consistent, signed by a stranger
        only_checks = dg.AssetSelection.checks_for_assets(dg.AssetKey(["education", "gate"]))
        result = _materialize(education, instance, only_checks, repro_config=False)
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert evaluations["signature_valid"].passed is False
        assert "KEY CHANGED for" in evaluations["signature_valid"].metadata["detail"].value


def _dagster_materialize(registry: Path, select: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "sei_assets.definitions",
            "--select",
            select,
        ],
        cwd=ROOT,
        env=dict(env, SEI_SYSTEMS_FILE=str(registry)),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_dagster_asset_materialize_gates_ci(tmp_path: Path) -> None:
    """The loan system through `dagster asset materialize`: V1 exits non-zero, V2 exits zero."""
    repo = tmp_path / "loan"
    registry = tmp_path / "systems.yaml"
    registry.write_text(
        yaml.safe_dump({"systems": [{"name": "loan", "repo": str(repo), "seed": str(LOAN_SEED)}]})
    )
    env = dict(os.environ)
    sei = str(Path(sys.executable).parent / "sei")
    seeded = subprocess.run(
        [sei, "init", "--systems", str(registry)], capture_output=True, text=True, env=env
    )
    assert seeded.returncode == 0 and "seeded loan" in seeded.stdout, seeded.stderr
    v1 = _dagster_materialize(registry, "group:loan", env)
    assert v1.returncode != 0, v1.stdout[-3000:] + v1.stderr[-3000:]
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    assert bundle["gate"] == "red" and bundle["gate_failures"] == ["unfair-credit-exclusion"]
    assert not list((repo / ".sei").glob("*.png"))  # pictures are not evidence
    assert not (repo / ".sei" / "release.json").exists()
    shutil.copyfile(LOAN_SEED / "treatment" / "train.py", repo / "train.py")
    subprocess.run(
        ["git", "commit", "-qam", "treatment: fairlearn mitigation"], cwd=repo, check=True
    )
    v2 = _dagster_materialize(registry, "group:loan", env)
    assert v2.returncode == 0, v2.stdout[-3000:] + v2.stderr[-3000:]
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    assert bundle["gate"] == "green" and len(bundle["treatment_events"]) == 1
    release = json.loads((repo / ".sei" / "release.json").read_text())
    assert release["model"] == "model.pkl" and release["model_digest"].startswith("sha256:")


def test_workspace_and_dagster_cloud_yaml_are_valid() -> None:
    from dagster_cloud_cli.config.models import load_dagster_cloud_yaml

    cloud = load_dagster_cloud_yaml((ROOT / "dagster_cloud.yaml").read_text())
    modules = {loc.location_name: loc.code_source.module_name for loc in cloud.locations}
    assert modules == {
        "sei_assets": "sei_assets.definitions",
        "sei_scenarios": "sei_assets.scenario_definitions",
    }
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert {
        e["python_module"]["location_name"]: e["python_module"]["module_name"]
        for e in workspace["load_from"]
    } == modules
    dg_project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert dg_project["code_location_name"] == "sei_assets"
    assert dg_project["code_location_target_module"] == modules["sei_assets"]
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for name in modules:
        assert f"Validation successful for code location {name}" in out.stdout + out.stderr


def test_dg_lists_the_project_definitions(tmp_path: Path) -> None:
    """`dg` (dagster-dg-cli) sees this checkout as a project whose code location is
    `sei_assets.definitions` ([tool.dg] in pyproject.toml)."""
    venv = Path(sys.executable).parent.parent
    env = dict(os.environ, VIRTUAL_ENV=str(venv), DAGSTER_HOME=str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    out = subprocess.run(
        [str(venv / "bin" / "dg"), "list", "defs", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    listed = json.loads(out.stdout)
    keys = {a["asset_key"] for a in listed["assets"]}
    assert {"loan_scoring/gate", "loan_scoring/release", "sweep_summary"} <= keys
    assert "Telemetry" not in out.stdout + out.stderr


def test_the_cli_runs_a_registered_repository_under_its_registered_name(
    tmp_path: Path, monkeypatch
) -> None:
    """One system, one name: `sei run` on the registered loan repository writes the keys the
    UI shows (`loan_scoring/*`, the manifest's `loan-scoring`); elsewhere a system of its own."""
    from sei_assets.core.registry import load_registry
    from sei_assets.defs.launch import system_for_repo

    shipped = load_registry(ROOT / "systems.yaml")
    assert [e.name for e in shipped] == ["loan_scoring"]
    manifest = yaml.safe_load((LOAN_SEED / "sei.yaml").read_text())
    assert manifest["system"]["name"].replace("-", "_") == "loan_scoring"
    repo = tmp_path / "registered"
    repo.mkdir()
    shutil.copy(LOAN_SEED / "sei.yaml", repo / "sei.yaml")
    registry = _registry(tmp_path, {"credit": repo})
    monkeypatch.setenv("SEI_SYSTEMS_FILE", str(registry))
    assert system_for_repo(repo).name == "credit"
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(LOAN_SEED / "sei.yaml", other / "sei.yaml")
    assert system_for_repo(other).name.startswith("loan_scoring_")  # a system of its own


def test_the_step_functions_of_every_system_share_one_signature(tmp_path: Path) -> None:
    """Dagster inspects each step function's signature many times at load: the closures of
    different systems answer with one Signature object, computed once, and still run."""
    import inspect

    from sei_assets.defs.system import systems_definitions

    entries = [SystemEntry(n, tmp_path / n, seed=LOAN_SEED) for n in ("alpha", "beta")]
    assets, checks = systems_definitions(entries)
    steps = {d.node_def.name: d.node_def.compute_fn.decorated_fn for d in [*assets, *checks]}
    for kind in ("__system", "__release", "_controls"):
        a, b = steps[f"alpha{kind}"], steps[f"beta{kind}"]
        assert a is not b
        assert inspect.signature(a) is inspect.signature(b)
        assert list(inspect.signature(a).parameters) == ["context"]


def test_cli_runs_belong_to_the_systems_job_in_the_code_location(
    education: SystemEntry, tmp_path: Path, monkeypatch
) -> None:
    """`sei run`'s run is a run of the system's job in `sei_assets` (listed under that job and
    on the Overview, not an ephemeral job), tagged with its verdict, version and name."""
    from sei_assets.defs.launch import materialize_system

    home = tmp_path / "dagster-home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SEI_SYSTEMS_FILE", str(_registry(tmp_path, {})))
    assert materialize_system(education.repo, "run", repro=False) == (0, None)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        system = run.tags["sei/system"]
        assert run.job_name == system != "__ephemeral_asset_job__"
        assert run.remote_job_origin.repository_origin.get_label() == "__repository__@sei_assets"
        by_location = dg.RunsFilter(tags={".dagster/repository": "__repository__@sei_assets"})
        assert [r.run_id for r in instance.get_runs(filters=by_location)] == [run.run_id]
        assert run.tags["sei/gate"] == "green"
        version = run.tags["sei/version"]
        assert run.tags["sei/run"].startswith(f"{system} V")
        assert run.tags["sei/run"].endswith(f"({version}): GREEN")
        gate = instance.get_latest_materialization_event(dg.AssetKey([system, "gate"]))
        assert gate.asset_materialization.tags["sei/version"] == version
        evaluated = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey([system, "gate"]), "signature_valid")]
        )
        assert evaluated  # the gate's checks ran in the same run
