"""`sei new`: a system scaffolded from the user's table, then compiled and run for real."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sei_assets.core import engine

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs


def applicants(path: Path, rows: int = 240, seed: int = 7) -> Path:
    """A small table: numbers, text, a few gaps, a binary label and a sensitive column."""
    rng = random.Random(seed)
    lines = ["age,income,region,sex,approved"]
    for i in range(rows):
        sex = rng.choice("FM")
        income = rng.gauss(3000, 600)
        approved = int(rng.random() < 0.2 + (income - 2000) / 3000)
        shown = "" if i % 40 == 0 else f"{income:.1f}"
        lines.append(
            f"{rng.randint(18, 70)},{shown},{rng.choice(['n', 's', 'e'])},{sex},{approved}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _commit(repo: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", "commit", "-qm", message], check=True
    )


def test_new_dvc_system_compiles_and_runs(tmp_path: Path, sei) -> None:
    table = applicants(tmp_path / "incoming" / "applicants.csv")
    repo = tmp_path / "screening"
    args = ["--backend", "dvc", "--data", str(table), "--target", "approved", "--sensitive", "sex"]
    result = sei("new", str(repo), *args, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["system"] == "screening" and "sei run" in doc["next"]
    for name in ("sei.yaml", "metrics.contract.json", "evaluate.py", "dvc.yaml", "params.yaml"):
        assert (repo / name).is_file(), name
    assert (repo / ".dvc").is_dir() and (repo / ".git").is_dir()
    assert ".sei/.*" in (repo / ".gitignore").read_text().splitlines()
    croissant = json.loads((repo / "data" / "applicants.croissant.json").read_text())
    types = {f["name"]: f["dataType"] for f in croissant["recordSet"][0]["field"]}
    assert types == {
        "age": "sc:Integer",
        "income": "sc:Float",
        "region": "sc:Text",
        "sex": "sc:Text",
        "approved": "sc:Integer",
    }
    import hashlib

    digest = hashlib.sha256((repo / "data" / "applicants.csv").read_bytes()).hexdigest()
    assert croissant["distribution"][0]["sha256"] == digest
    manifest = yaml.safe_load((repo / "sei.yaml").read_text())
    assert manifest["pipeline"]["tool"] == "dvc" and isinstance(
        manifest["classification"]["basis"], list
    )
    assert "# " in (repo / "sei.yaml").read_text()  # commented for the reader

    _commit(repo, "declare the screening system")
    compiled = sei("compile", "--repo", str(repo), "--json")
    assert compiled.exit_code == 0, compiled.stderr
    assert json.loads(compiled.stdout)["controls"] == [
        "performance-floor",
        "fairness-bound",
        "data-completeness",
    ]
    ran = sei("run", "--repo", str(repo), "--json")
    assert ran.exit_code in (0, 1), ran.stdout + ran.stderr
    verdict = json.loads(ran.stdout)
    assert verdict["metrics_source"] == "reproduced" and verdict["control_count"] == 3
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    assert bundle["gate"] == verdict["gate"] == ("green" if ran.exit_code == 0 else "red")
    metrics = json.loads((repo / "metrics.json").read_text())
    assert set(metrics) == {"performance-floor", "fairness-bound", "data-completeness"}
    assert metrics["data-completeness"] == pytest.approx(6 / (240 * 5))
    assert metrics["fairness-bound"]["power"]["method"] == "bootstrap"
    assert sei("verify", "--repo", str(repo)).exit_code == 0

    # a second `sei new` keeps what exists
    again = sei("new", str(repo), *args, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["written"] == []


def test_new_file_system_runs_through_the_engine(tmp_path: Path, sei) -> None:
    table = applicants(tmp_path / "t.csv", rows=200, seed=3)
    repo = tmp_path / "plain"
    result = sei(
        "new", str(repo), "--backend", "file", "--data", str(table), "--target", "approved",
        "--sensitive", "sex", "--name", "plain-screening",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "sei compile" in result.stdout
    outcome = engine.run(repo)
    assert outcome.gate in ("green", "red") and len(outcome.bundle.control_results) == 3
    assert outcome.pipeline.tool == "file"


def test_new_refuses_what_it_cannot_scaffold(tmp_path: Path, sei) -> None:
    table = applicants(tmp_path / "t.csv", rows=40)
    repo = tmp_path / "r"
    missing = sei("new", str(repo), "--backend", "dvc", "--data", str(table))
    assert missing.exit_code == 2 and "--target is required" in missing.stderr
    cases = {
        ("--target", "nope", "--sensitive", "sex"): "has no column 'nope'",
        ("--target", "age", "--sensitive", "sex"): "distinct values",
        ("--target", "approved", "--sensitive", "approved"): "same column",
    }
    for flags, message in cases.items():
        bad = sei("new", str(repo), "--backend", "dvc", "--data", str(table), *flags)
        assert bad.exit_code == 2 and message in bad.stderr, (flags, bad.stderr)
    wrong = sei("new", str(repo), "--backend", "sas", "--data", str(table), "--target",
                "approved", "--sensitive", "sex")  # fmt: skip
    assert wrong.exit_code == 2 and "not one of dvc, mlflow, dagster, dbt, file" in wrong.stderr
    quoted = tmp_path / "it's.csv"  # a file name that would break out of the dbt source's SQL
    quoted.write_bytes(table.read_bytes())
    bad = sei("new", str(repo), "--backend", "dbt", "--data", str(quoted), "--target",
              "approved", "--sensitive", "sex")  # fmt: skip
    assert bad.exit_code == 2 and "may hold only letters" in bad.stderr, bad.stderr
    assert not (repo / "sei.yaml").exists()  # nothing written on bad input
    assert not (repo / "data").exists()


def test_new_mlflow_system_runs_and_registers_one_version(tmp_path: Path, sei) -> None:
    """The scaffold's MLflow project logs every measure and registers one model version per
    run, as the reproducer requires."""
    table = applicants(tmp_path / "t.csv", rows=200, seed=5)
    repo = tmp_path / "ml"
    result = sei(
        "new", str(repo), "--backend", "mlflow", "--data", str(table), "--target", "approved",
        "--sensitive", "sex", "--name", "ml-screening",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (repo / "mlflow_project" / "MLproject").is_file()
    outcome = engine.run(repo)
    assert len(outcome.bundle.control_results) == 3
    details = outcome.pipeline.details
    assert details["registered_model"] == "ml-screening" and details["model_version"] == "1"


def _signed_set(sei, repo: Path) -> dict:
    """The run's evidence set: verified offline, its index naming the bundle by its digest."""
    import hashlib

    verified = sei("verify", "--repo", str(repo))
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    index = json.loads((repo / ".sei" / "index.json").read_text())
    bundle = (repo / ".sei" / "bundle.json").read_bytes()
    assert index["files"][".sei/bundle.json"] == hashlib.sha256(bundle).hexdigest()
    assert (repo / ".sei" / "index.json.sig").is_file()
    return json.loads(bundle)


def _new_compile_run(sei, tmp_path: Path, backend: str) -> tuple[Path, dict]:
    """`sei new --backend B` into an empty git repository, then `sei compile` and `sei run`."""
    table = applicants(tmp_path / "incoming" / "applicants.csv", rows=200, seed=5)
    repo = tmp_path / f"{backend}-screening"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    result = sei(
        "new", str(repo), "--backend", backend, "--data", str(table), "--target", "approved",
        "--sensitive", "sex",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "sei: check: data/applicants.croissant.json with mlcroissant" in result.stderr
    if backend == "dbt":  # prepared, so that the Dagster location loads the dbt models
        assert (repo / "dbt_project" / "target" / "manifest.json").is_file()
        assert "sei: prepare: the dbt manifest (dbt parse)" in result.stderr
    _commit(repo, f"declare the system on {backend}")
    compiled = sei("compile", "--repo", str(repo), "--json")
    assert compiled.exit_code == 0, compiled.stderr
    ran = sei("run", "--repo", str(repo), "--json")
    assert ran.exit_code in (0, 1), ran.stdout + ran.stderr
    verdict = json.loads(ran.stdout)
    assert verdict["metrics_source"] == "reproduced" and verdict["control_count"] == 3
    bundle = _signed_set(sei, repo)
    assert bundle["gate"] == verdict["gate"] == ("green" if ran.exit_code == 0 else "red")
    assert bundle["pipeline"]["tool"] == backend and bundle["pipeline"]["reproduced"] is True
    return repo, bundle


def test_new_dagster_system_compiles_runs_and_signs(tmp_path: Path, sei) -> None:
    """The scaffold's Dagster assets run through `dagster asset materialize`: the evaluation's
    code version follows evaluate.py and params.yaml, and its native fairness check agrees
    with the engine's control."""
    import hashlib

    repo, bundle = _new_compile_run(sei, tmp_path, "dagster")
    assert "dagster_pipeline/.dagster_home/" in (repo / ".gitignore").read_text().splitlines()
    pipeline = bundle["pipeline"]
    treatment = hashlib.sha256()
    for name in ("evaluate.py", "params.yaml"):
        treatment.update((repo / name).read_bytes())
    assert pipeline["code_versions"]["evaluation"] == "eval-" + treatment.hexdigest()[:12]
    assert set(pipeline["code_versions"]) == {"training_table", "evaluation"}
    (check,) = pipeline["asset_checks"]
    control = {c["control_id"]: c for c in bundle["control_results"]}["fairness-bound"]
    assert check["check"] == "fairness_bound_check" and check["severity"] == "WARN"
    assert check["passed"] is control["passed"]
    assert check["metadata"]["demographic_parity_diff"] == pytest.approx(control["actual_value"])
    assert (check["metadata"]["operator"], check["metadata"]["threshold"]) == ("<", 0.10)


def test_new_dbt_system_compiles_runs_and_signs(tmp_path: Path, sei) -> None:
    """The scaffold's dbt project builds the table on DuckDB (its tests pass) and the
    evaluation measures the built table: the same metrics as evaluate.py on the CSV itself."""
    repo, bundle = _new_compile_run(sei, tmp_path, "dbt")
    pipeline = bundle["pipeline"]
    results = pipeline["dbt_results"]
    assert {k.split(".")[0] for k in results} == {"model", "test"}
    assert all(status in ("success", "pass") for status in results.values()), results
    assert sum(k.startswith("test.") for k in results) == 3
    assert pipeline["tables"]["records"]["rows"] == 200
    from_dbt = json.loads((repo / "metrics.json").read_text())
    subprocess.run([sys.executable, "evaluate.py"], cwd=repo, check=True, capture_output=True)
    assert json.loads((repo / "metrics.json").read_text()) == from_dbt


def test_the_dbt_label_test_is_written_for_plain_values_only(tmp_path: Path) -> None:
    """dbt renders its YAML with Jinja and pastes accepted values into SQL: a label or column
    name that is not a plain word leaves the test out instead of reaching either."""
    import pandas as pd

    from sei_assets.core import scaffold

    def schema(column: str, labels: list) -> dict:
        frame = pd.DataFrame({column: labels * 2, "sex": ["F", "M"] * len(labels)})
        req = scaffold.Request(tmp_path, "dbt", tmp_path / "t.csv", column, "sex", "x")
        files = scaffold._dbt_project(req, frame, "data/t.csv", "data/t.croissant.json")
        return yaml.safe_load(files["models/schema.yml"])["models"][0]["columns"]

    plain = schema("approved", [0, 1])
    assert plain[1]["name"] == "approved"
    assert plain[1]["data_tests"][0]["accepted_values"]["arguments"] == {
        "values": [0, 1],
        "quote": False,
    }
    assert schema("label", ["no", "yes"])[1]["data_tests"][0]["accepted_values"]["arguments"][
        "quote"
    ]
    for column, labels in (("approved", ["a'b", "{{ x }}"]), ("ok col", ["no", "yes"])):
        assert [c["name"] for c in schema(column, labels)] == ["sei_row_number"]


def test_column_names_are_data_in_the_manifest(tmp_path: Path) -> None:
    """A column name with YAML syntax in it (`:`, `[`, a quote) lands in sei.yaml as the text
    it is, not as keys or lists of the manifest."""
    from sei_assets.core import scaffold
    from sei_assets.core.manifest import load_manifest

    table = tmp_path / "t.csv"
    rows = ["1,a,3", "0,b,4", "1,a,5", "0,b,6", "1,b,7", "0,a,8"]
    table.write_text('"score: 1, x: [2]","grp"" evil",age\n' + "\n".join(rows) + "\n")
    target, sensitive = "score: 1, x: [2]", 'grp" evil'
    req = scaffold.Request(tmp_path / "repo", "file", table, target, sensitive, "hostile")
    scaffold.scaffold(req)
    manifest = load_manifest(tmp_path / "repo").manifest
    assert manifest.system.decisions == [f"{target}_prediction"]
    fairness = manifest.risk.risks[1]
    assert fairness.title == f"Unequal outcomes between groups of {sensitive}"
    assert fairness.treat[0].measures[0].inputs == {
        "prediction": "prediction",
        "dimension": sensitive,
    }
