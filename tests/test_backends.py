"""The pipeline backends MLflow, Dagster and dbt on the loan system, through the `sei` CLI.

Each backend test runs that backend's scenario (`scenarios/loan_<tool>.json`: a repository
seeded from ``resources/loan`` with ``sei_<tool>.yaml``, the DVC manifest with another
``pipeline.tool``, as ``sei.yaml``; V1 red, only the demographic-parity gate failing; the
treatment committed; V2 green; verified), checks both versions' evidence against DVC's values
and what the tool recorded, then bad input on V2 (exit 2, the evidence intact and verifiable).
Real tools only: MLflow on a SQLite store in the repository, `dagster asset materialize`, dbt on
DuckDB. (tests/test_scenarios.py runs every other scenario.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sei_assets.core.workspace import seed_repository

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent
LOAN = ROOT / "resources" / "loan"
FAIRNESS = "unfair-credit-exclusion"

# Reference values of the DVC backend: `sei run` on a repository seeded from resources/loan
# with the shipped sei.yaml (pipeline.tool: dvc; `dvc repro`: featurize → evaluate, seed 42),
# V1 = train.py, V2 = treatment/train.py committed over it. Every other backend must reproduce
# them within TOLERANCE; all three reproduce them exactly (same floats), values and intervals.
DVC_V1 = {
    "unfair-credit-exclusion": 0.11764705882352944,
    "equalized-odds-gap": 0.09977324263038545,
    "disparate-impact-ratio": 0.85,
    "accuracy-floor": 0.74,
    "roc-auc-floor": 0.7771428571428571,
    "good-payer-recall": 0.8476190476190476,
    "expected-credit-cost": 0.8733333333333333,
    "group-sample-floor": 96.0,
    "missing-value-rate": 0.0,
    "prediction-stability": 0.9933333333333333,
}
DVC_V2 = {
    "unfair-credit-exclusion": 0.015318627450980338,
    "equalized-odds-gap": 0.10207336523126004,
    "disparate-impact-ratio": 0.9798549556809025,
    "accuracy-floor": 0.7433333333333333,
    "roc-auc-floor": 0.7771428571428571,
    "good-payer-recall": 0.8523809523809524,
    "expected-credit-cost": 0.87,
    "group-sample-floor": 96.0,
    "missing-value-rate": 0.0,
    "prediction-stability": 1.0,
}
# The bootstrap interval of the fairness measure (same DVC runs).
DVC_CI = {
    "v1": (0.015671289217320687, 0.2255191083289206),
    "v2": (0.0021860534206635442, 0.12497482441644288),
}
TOLERANCE = 1e-12
DEFINITIONS = {
    "mlflow": "mlflow_project/MLproject",
    "dagster": "dagster_pipeline/definitions.py",
    "dbt": "dbt_project/dbt_project.yml",
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def _evidence(repo: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in (repo / ".sei").iterdir()}
    return files | {"sei.lock": (repo / "sei.lock").read_bytes()}


def _check(bundle: dict, metrics: dict, tool: str, version: str) -> dict[str, Any]:
    """A bundle and its metrics: DVC's values, intervals and controls, reproduced by ``tool``."""
    expected = DVC_V1 if version == "v1" else DVC_V2
    assert bundle["gate"] == ("red" if version == "v1" else "green")
    assert bundle["pipeline"]["tool"] == tool and bundle["pipeline"]["reproduced"]
    results = {r["control_id"]: r for r in bundle["control_results"]}
    assert set(results) == set(expected) and len(results) == 10
    for measure, value in expected.items():
        assert metrics[measure]["value"] == pytest.approx(value, abs=TOLERANCE), measure
        assert results[measure]["actual_value"] == pytest.approx(value, abs=TOLERANCE), measure
    low, high = DVC_CI[version]
    assert metrics[FAIRNESS]["power"]["ci_low"] == pytest.approx(low, abs=TOLERANCE)
    assert metrics[FAIRNESS]["power"]["ci_high"] == pytest.approx(high, abs=TOLERANCE)
    assert bundle["pipeline_lock_digest"].startswith("sha256:")
    return bundle


def _journey(name: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """`scenarios/<name>.json` as its Dagster job (the scenario is this backend's end-to-end
    example: V1 red, the treatment committed, V2 green, verified), then its repository and the
    V1 and V2 bundles, each checked against DVC's values. V1's is read from the commit the
    scenario made of it ("evidence: V1 (red)")."""
    import os

    import dagster as dg

    from sei_assets.scenarios import build_job, load_scenario

    scenario = load_scenario(ROOT / "scenarios" / f"{name}.json")
    with dg.DagsterInstance.ephemeral() as instance:
        result = build_job(scenario).execute_in_process(instance=instance, raise_on_error=False)
    failed = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, "\n".join(failed)
    last = result.output_for_node(scenario.op_name(len(scenario.steps) - 1))
    assert last["ok"]
    # the scenario's throwaway key is trusted in its own store, never remembered on the machine
    assert not Path(os.environ["SEI_KNOWN_KEYS"]).exists()
    repo = Path(last["state"]["repo"])
    tool = json.loads((repo / ".sei" / "bundle.json").read_text())["pipeline"]["tool"]
    (v1,) = _git(repo, "log", "--format=%H", "--grep=^evidence: V1").split()
    first = _check(
        json.loads(_git(repo, "show", f"{v1}:.sei/bundle.json")),
        json.loads(_git(repo, "show", f"{v1}:metrics.json")),
        tool,
        "v1",
    )
    second = _check(  # V2's evidence is the working tree's (the scenario left it there)
        json.loads((repo / ".sei" / "bundle.json").read_text()),
        json.loads((repo / "metrics.json").read_text()),
        tool,
        "v2",
    )
    assert [e["control_id"] for e in second["treatment_events"]] == [FAIRNESS]
    return repo, first, second


def _edit_treatment(sei, repo: Path) -> None:
    """A change to the training code after V2: `sei status` sees the model side stale."""
    train = repo / "train.py"
    train.write_text(train.read_text() + "\n# an edit after V2\n")
    assert "measurement-model" in _stale_sections(sei, repo)


def _bad_run(sei, repo: Path, message: str, *args: str) -> str:
    """`sei run` on bad input: exit 2, a message naming the backend, evidence intact."""
    before = _evidence(repo)
    result = sei("run", "--repo", str(repo), *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert _evidence(repo) == before
    verified = sei("verify", "--repo", str(repo))
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    return result.stderr


def _stale_sections(sei, repo: Path) -> set[str]:
    _code, doc = sei.json("status", "--repo", str(repo))
    return {s["section"] for s in doc["sections"] if not s["fresh"]}


def test_manifests_differ_only_in_pipeline_tool(tmp_path: Path, sei) -> None:
    """Switching backend is the `pipeline.tool` line (and the tool's definition file) alone:
    the same engine dispatches to the backend the manifest names."""
    base = (LOAN / "sei.yaml").read_text().splitlines()
    repo = seed_repository(LOAN, tmp_path / "loan")
    for tool, definition in DEFINITIONS.items():
        lines = (LOAN / f"sei_{tool}.yaml").read_text().splitlines()
        changed = [(a, b) for a, b in zip(base, lines, strict=True) if a != b]
        assert changed == [
            (
                "pipeline: { tool: dvc, metrics: metrics.json, params: params.yaml }",
                f"pipeline: {{ tool: {tool}, metrics: metrics.json, params: params.yaml }}",
            )
        ]
        assert yaml.safe_load("\n".join(lines))["pipeline"]["tool"] == tool
        shutil.copyfile(repo / f"sei_{tool}.yaml", repo / "sei.yaml")
        code, doc = sei.json("status", "--repo", str(repo))
        assert code == 1 and doc["system"] == "loan-scoring"
        moved = repo / definition
        moved.rename(moved.with_suffix(".absent"))
        result = sei("run", "--repo", str(repo))
        assert result.exit_code == 2
        assert f"{tool}:" in result.stderr and definition.split("/")[-1] in result.stderr
        moved.with_suffix(".absent").rename(moved)
        assert not (repo / ".sei").exists()
    # `sei status` reads drift through the reproducers: importing them loads no MLOps tool.
    code = (
        "import sys\n"
        "import sei_assets.core.reproducers.dagster_tool, sei_assets.core.reproducers.dbt\n"
        "import sei_assets.core.reproducers.dvc_exp, sei_assets.core.reproducers.mlflow\n"
        "heavy = ('dagster', 'mlflow', 'dbt.cli', 'duckdb', 'sklearn', 'dvc.repo')\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    (repo / "sei.yaml").write_text((LOAN / "sei.yaml").read_text().replace("tool: dvc", "tool: x"))
    result = sei("run", "--repo", str(repo))
    assert result.exit_code == 2 and "unknown backend 'x'" in result.stderr


def test_treatment_files_per_backend(tmp_path: Path) -> None:
    """The files whose change is drift class B: the treatment, the evaluation, the params and
    the backend's own pipeline definition; never the data, the tool's state or its outputs."""
    from sei_assets.core.reproducers import reproducer_for

    repo = tmp_path / "loan"
    shutil.copytree(LOAN, repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "dbt_project" / "target").mkdir()
    (repo / "dbt_project" / "target" / "manifest.json").write_text("{}")
    (repo / "dbt_project" / "last_run.json").write_text("{}")
    (repo / "dbt_project" / "loan.duckdb").write_bytes(b"")
    data = {repo / "data" / "german_credit.csv", repo / "data" / "german_credit.croissant.json"}
    pipeline = {"params": "params.yaml"}
    for tool, own in {
        "mlflow": {"mlflow_project/MLproject", "mlflow_project/entry.py"},
        "dagster": {"dagster_pipeline/definitions.py"},
        "dbt": {
            "dbt_project/dbt_project.yml",
            "dbt_project/profiles.yml",
            "dbt_project/evaluate.py",
            "dbt_project/models/predictions.py",
            "dbt_project/models/features.sql",
            "dbt_project/macros/one_hot.sql",
            "dbt_project/tests/assert_every_holdout_applicant_has_an_outcome.sql",
        },
    }.items():
        files = {
            p.relative_to(repo).as_posix()
            for p in reproducer_for(tool).treatment_files(repo, pipeline, data)
        }
        assert {"train.py", "compliance_eval.py", "params.yaml"} <= files
        assert own <= files, tool
        assert not any(f.startswith("data/") or "target/" in f for f in files), tool
        assert "dbt_project/last_run.json" not in files


def test_mlflow_backend(sei, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlflow run` on a SQLite store in the repository; champion alias only on green."""
    from mlflow import MlflowClient

    from sei_assets.core.reproducers import ReproducerError
    from sei_assets.core.reproducers.mlflow import MlflowReproducer, tracking_uri

    repo, v1, bundle = _journey("loan_mlflow")
    record_file = repo / "mlflow_project" / "last_run.json"
    record = json.loads(record_file.read_text())
    client = MlflowClient(tracking_uri=tracking_uri(repo), registry_uri=tracking_uri(repo))
    # V1 (red): registered as version 1, never champion
    first = client.get_model_version("loan-scoring", "1")
    run = client.get_run(first.run_id)
    assert run.data.metrics[FAIRNESS] == pytest.approx(DVC_V1[FAIRNESS], abs=TOLERANCE)
    assert run.data.tags["sei.champion"] == "false"
    assert v1["pipeline"]["mlflow_run_id"] == first.run_id  # the bundle records the run
    assert (v1["pipeline"]["model_version"], v1["pipeline"]["champion"]) == ("1", False)
    assert first.aliases == []
    # V2 (green): version 2, the champion alias
    assert record["champion"] is True and record["model_version"] == "2"
    assert (bundle["pipeline"]["model_version"], bundle["pipeline"]["champion"]) == ("2", True)
    champion = client.get_model_version_by_alias("loan-scoring", "champion")
    assert str(champion.version) == "2" and champion.run_id == record["run_id"]
    assert bundle["pipeline_lock_digest"] == MlflowReproducer().lock_digest(repo, {})
    assert MlflowReproducer().details(repo, {})["mlflow_run_id"] == record["run_id"]
    assert bundle["pipeline"]["mlflow_run_id"] == record["run_id"]
    # metrics.json must say what the run logged.
    altered = {**record, "metrics": {**record["metrics"], FAIRNESS: 0.01}}
    with pytest.raises(ReproducerError, match="mlflow: .*unfair-credit-exclusion"):
        MlflowReproducer()._check_metrics(repo, {}, altered)

    # Bad input: missing tool, unusable metrics, unusable run record. (A failing `mlflow run`
    # takes the same path as the failing Dagster and dbt runs below, at 15 s of MLflow start-up.)
    with monkeypatch.context() as patched:  # undo only this (not the test's isolation)
        patched.setattr(MlflowReproducer, "executable", "mlflow-not-installed")
        _bad_run(sei, repo, "mlflow: the command 'mlflow-not-installed' is not installed")
    metrics = repo / "metrics.json"
    kept = metrics.read_bytes()
    metrics.write_text("{not json")
    _bad_run(sei, repo, "mlflow: the metrics file", "--no-repro")
    metrics.write_bytes(kept)
    kept = record_file.read_bytes()
    record_file.write_text("[]")
    _bad_run(sei, repo, "mlflow: ", "--no-repro")
    record_file.write_bytes(kept)
    assert _stale_sections(sei, repo) == set()

    # the release of a green gate sets the configured alias and records it
    from sei_assets.core.release import promote

    released = promote(repo, mlflow_alias="production")
    assert released["mlflow"] == {
        "registered_model": "loan-scoring",
        "model_version": "2",
        "alias": "production",
    }
    assert str(client.get_model_version_by_alias("loan-scoring", "production").version) == "2"
    assert client.get_model_version("loan-scoring", "1").aliases == []
    _edit_treatment(sei, repo)


def test_dagster_backend(sei, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dagster asset materialize`; the fairness gate also ran as a native WARN asset check."""
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    from sei_assets.core.reproducers.dagster_tool import DagsterReproducer, instance_home

    repo, first, bundle = _journey("loan_dagster")
    v1, v2 = first["pipeline"], bundle["pipeline"]  # what each run's record said
    (check,) = v1["asset_checks"]
    assert (check["check"], check["passed"], check["severity"]) == (
        "unfair_credit_exclusion_gate",
        False,
        "WARN",
    )
    assert check["metadata"]["threshold"] == 0.03 and check["metadata"]["operator"] == "<"
    assert [c["passed"] for c in v2["asset_checks"]] == [True]
    # The treatment changed the evaluation's code version, not the features'.
    assert v2["code_versions"]["credit_features"] == v1["code_versions"]["credit_features"]
    assert (
        v2["code_versions"]["compliance_evaluation"] != v1["code_versions"]["compliance_evaluation"]
    )
    metrics_digest = DagsterReproducer().lock_digest(repo, {"metrics": "metrics.json"})
    assert bundle["pipeline_lock_digest"] == metrics_digest
    key = AssetCheckKey(AssetKey("compliance_evaluation"), "unfair_credit_exclusion_gate")
    with DagsterInstance.from_config(str(instance_home(repo))) as instance:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    runs = [v2["dagster_pipeline_run_id"], v1["dagster_pipeline_run_id"]]
    assert [h.run_id for h in history] == runs
    assert [h.status.value for h in history] == ["SUCCEEDED", "FAILED"]

    with monkeypatch.context() as patched:  # undo only this (not the test's isolation)
        patched.setattr(DagsterReproducer, "executable", "dagster-not-installed")
        _bad_run(sei, repo, "dagster: the command 'dagster-not-installed' is not installed")
    definitions = repo / "dagster_pipeline" / "definitions.py"
    original = definitions.read_text()
    definitions.write_text(original + "\nraise RuntimeError('broken pipeline definition')\n")
    stderr = _bad_run(sei, repo, "dagster: 'dagster asset materialize")
    assert "broken pipeline definition" in stderr
    definitions.write_text(original)
    metrics = repo / "metrics.json"
    kept = metrics.read_bytes()
    metrics.unlink()
    _bad_run(sei, repo, "dagster: the metrics file", "--no-repro")
    metrics.write_bytes(kept)
    assert _stale_sections(sei, repo) == set()
    _edit_treatment(sei, repo)


def test_dbt_backend(sei, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dbt build` on DuckDB then the evaluation from its tables; the same project loads into
    Dagster through dagster-dbt (`dbt_assets_for`) and builds the same tables."""
    import dagster as dg
    import duckdb

    from sei_assets.core.reproducers.dbt import DbtReproducer, prepare_manifest, table_digests
    from sei_assets.defs.dbt import dbt_assets_for

    repo, first, bundle = _journey("loan_dbt")
    v1 = first["pipeline"]  # what V1's build record said
    tests = {k: v for k, v in v1["dbt_results"].items() if k.startswith("test.")}
    assert len(tests) == 19 and set(tests.values()) == {"pass"}
    assert any("assert_every_holdout_applicant_has_an_outcome" in k for k in tests)
    rows = {name: t["rows"] for name, t in v1["tables"].items()}
    assert rows == {
        "stg_applications": 1000,
        "features": 1000,
        "predictions": 300,
        "applicant_outcomes": 300,
        "outcomes_by_group": 2,
    }
    record_file = repo / "dbt_project" / "last_run.json"
    built = json.loads(record_file.read_text())["tables"]
    assert built == bundle["pipeline"]["tables"]
    assert built["features"] == v1["tables"]["features"]  # the treatment left the data
    assert built["predictions"] != v1["tables"]["predictions"]
    database = repo / "dbt_project" / "loan.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        by_group = dict(con.sql("select gender, selection_rate from outcomes_by_group").fetchall())
        columns = [c for c in con.sql("select * from features limit 0").columns]
    groups = json.loads((repo / "fairness_by_group.json").read_text())
    assert by_group == pytest.approx({g["gender"]: g["selection_rate"] for g in groups})
    assert abs(by_group["male"] - by_group["female"]) == pytest.approx(DVC_V2[FAIRNESS])
    assert columns[:3] == ["applicant_id", "duration_months", "credit_amount"]
    assert len(columns) == 1 + 63 and columns[-2:] == ["gender", "target"]

    with monkeypatch.context() as patched:  # undo only this (not the test's isolation)
        patched.setattr(DbtReproducer, "executable", "dbt-not-installed")
        _bad_run(sei, repo, "dbt: the command 'dbt-not-installed' is not installed")
    staging = repo / "dbt_project" / "models" / "stg_applications.sql"
    original = staging.read_text()
    staging.write_text(original.replace("from raw", "from no_such_relation"))
    stderr = _bad_run(sei, repo, "dbt: 'dbt build --profiles-dir .")
    assert "no_such_relation" in stderr
    staging.write_text(original)
    kept = record_file.read_bytes()
    record_file.unlink()
    _bad_run(sei, repo, "dbt: ", "--no-repro")
    record_file.write_bytes(kept)
    assert _stale_sections(sei, repo) == set()

    # dagster-dbt: without a prepared manifest the models are not loaded (loading runs
    # nothing); prepared at build time (`dbt parse`, as `sei init` does), they are.
    (repo / "dbt_project" / "target" / "manifest.json").unlink()
    assert dbt_assets_for(repo, "loan") is None
    prepare_manifest(repo)
    assets = dbt_assets_for(repo, "loan")
    assert assets is not None
    keys = {k.to_user_string() for k in assets.keys}
    assert keys == {f"loan/dbt/{name}" for name in rows}
    assert dg.AssetKey(["loan", "dataset"]) in assets.dependency_keys
    assert len(assets.check_keys) == 19
    with duckdb.connect(str(database)) as con:
        for name in rows:
            con.execute(f"drop table {name}")
    result = dg.materialize([assets], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert len(result.get_asset_materialization_events()) == 5
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 19 and all(c.passed for c in checks)
    assert table_digests(database) == built
    # ...and the system's own graph holds the dbt models below its dataset source.
    from sei_assets.core.registry import SystemEntry
    from sei_assets.defs.system import system_definitions

    graph_assets, _checks = system_definitions(SystemEntry("loan", repo))
    graph_keys = {k.to_user_string() for a in graph_assets for k in getattr(a, "keys", [])}
    assert {f"loan/dbt/{name}" for name in rows} <= graph_keys
    _edit_treatment(sei, repo)


def test_dvc_experiment_with_changed_params(tmp_path: Path) -> None:
    """`run_experiment`: a DVC experiment of the loan pipeline with seed 7, run in a temporary
    executor (`dvc exp run --temp`, no --set-param: Hydra's parser does not load here); the
    branch, the workspace and the params file are left exactly as they were."""
    from sei_assets.core.reproducers import ReproducerError
    from sei_assets.core.reproducers.dvc_exp import run_experiment

    repo = seed_repository(LOAN, tmp_path / "loan")
    head = _git(repo, "rev-parse", "HEAD")
    params = (repo / "params.yaml").read_bytes()
    with pytest.raises(ReproducerError, match="has no parameter no_such"):
        run_experiment(repo, {"no_such": 1})
    metrics = run_experiment(repo, {"seed": 7})
    assert set(metrics) == set(DVC_V1)
    assert metrics[FAIRNESS]["power"]["seed"] == 7
    assert metrics[FAIRNESS]["value"] != pytest.approx(DVC_V1[FAIRNESS])
    assert metrics["group-sample-floor"]["value"] != DVC_V1["group-sample-floor"]
    assert (repo / "params.yaml").read_bytes() == params
    assert _git(repo, "rev-parse", "HEAD") == head
    assert _git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert not (repo / "metrics.json").exists()
    (ref,) = _git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    assert yaml.safe_load(_git(repo, "show", f"{ref}:params.yaml"))["seed"] == 7
    assert json.loads(_git(repo, "show", f"{ref}:metrics.json")) == metrics
