"""End-to-end checks of the loan-scoring example in ``resources/loan``.

The pipeline stages are run as subprocesses with the project's Python (not through DVC) in a
temporary copy: V1 (``train.py``) must fail only the demographic-parity gate, V2
(``treatment/train.py`` copied over ``train.py``) must pass every gate. Measured runtime of
the whole file on 2 cores: 25-35 s (featurize ~5 s, each evaluate ~6-8 s, Croissant ~4 s).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parents[1]
LOAN = ROOT / "resources" / "loan"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
UCI_SOURCE = Path(__file__).parent / "fixtures" / "uci" / "german.data"
FAIRNESS_ID = "unfair-credit-exclusion"
_CONSTRAINT = re.compile(r"^\s*(<=|>=|==|<|>)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*$")
_OPS = {
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "==": lambda v, t: v == t,
}


def _run(script: str, cwd: Path) -> str:
    """Run one pipeline script with the project's Python; fail with its output."""
    proc = subprocess.run(
        [PYTHON, script], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _compiled_measures() -> dict[str, dict[str, Any]]:
    """The measures of sei.yaml that compile to controls (lifecycle is not monitoring)."""
    manifest = yaml.safe_load((LOAN / "sei.yaml").read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for risk in manifest["risk"]["risks"]:
        for treat in risk.get("treat", []):
            for measure in treat.get("measures", []):
                if "monitoring" not in measure.get("lifecycle", ["validation"]):
                    out[measure["id"]] = measure
    return out


def _holds(constraint: str, value: float) -> bool:
    """Whether ``value`` satisfies a constraint such as ``"< 0.03"``."""
    match = _CONSTRAINT.match(constraint)
    assert match, f"unparsable constraint {constraint!r}"
    op, threshold = match.groups()
    return _OPS[op](value, float(threshold))


def _threshold(constraint: str) -> float:
    """The numeric bound of a constraint."""
    match = _CONSTRAINT.match(constraint)
    assert match
    return float(match.group(2))


def _failing_gates(metrics: dict[str, Any]) -> list[str]:
    """Ids of the gate measures whose value violates their constraint."""
    return [
        mid
        for mid, measure in _compiled_measures().items()
        if measure.get("enforcement") == "gate"
        and not _holds(measure["constraint"], metrics[mid]["value"])
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run featurize + evaluate for V1, then evaluate again with the treatment (V2)."""
    work = tmp_path_factory.mktemp("loan") / "loan"
    shutil.copytree(LOAN, work, ignore=shutil.ignore_patterns("__pycache__", ".venv"))
    _run("featurize.py", work)
    assert (work / "data" / "features.parquet").is_file()
    _run("evaluate.py", work)
    v1 = json.loads((work / "metrics.json").read_text())
    v1_groups = json.loads((work / "fairness_by_group.json").read_text())
    shutil.copyfile(work / "treatment" / "train.py", work / "train.py")
    _run("evaluate.py", work)
    v2 = json.loads((work / "metrics.json").read_text())
    return {"dir": work, "v1": v1, "v2": v2, "v1_groups": v1_groups}


def test_compiled_program_has_ten_controls() -> None:
    measures = _compiled_measures()
    assert len(measures) == 10
    fairness = measures[FAIRNESS_ID]
    assert fairness["metric"] == "demographic_parity_diff"
    assert fairness["constraint"] == "< 0.03"
    assert fairness["enforcement"] == "gate"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_metrics_cover_every_control(runs: dict[str, Any], version: str) -> None:
    metrics = runs[version]
    assert set(metrics) == set(_compiled_measures())
    for mid, entry in metrics.items():
        value, power = entry["value"], entry["power"]
        assert isinstance(value, float) and math.isfinite(value), mid
        assert math.isfinite(power["ci_low"]) and math.isfinite(power["ci_high"]), mid
        assert power["ci_low"] <= power["ci_high"], mid
        assert power["ci_level"] == 0.95
        assert power["method"] == "bootstrap"
        assert power["n_boot"] == 1000
        assert power["seed"] == 42
        assert power["n_clusters"] is None
        assert isinstance(power["n"], int) and power["n"] > 0
    assert set(metrics[FAIRNESS_ID]["power"]["groups"]) == {"female", "male"}
    assert metrics["accuracy-floor"]["power"]["groups"] == {}


def test_v1_gate_is_red_only_because_of_parity(runs: dict[str, Any]) -> None:
    assert runs["v1"][FAIRNESS_ID]["value"] > 0.03
    assert _failing_gates(runs["v1"]) == [FAIRNESS_ID]


def test_v2_treatment_turns_every_gate_green(runs: dict[str, Any]) -> None:
    assert runs["v2"][FAIRNESS_ID]["value"] < 0.03
    assert _failing_gates(runs["v2"]) == []


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_gate_values_keep_a_margin_from_thresholds(runs: dict[str, Any], version: str) -> None:
    for mid, measure in _compiled_measures().items():
        if measure.get("enforcement") != "gate":
            continue
        threshold = _threshold(measure["constraint"])
        margin = 0.005 * max(1.0, abs(threshold))
        assert abs(runs[version][mid]["value"] - threshold) >= margin, (version, mid)


def test_side_outputs(runs: dict[str, Any]) -> None:
    groups = runs["v1_groups"]
    assert [row["gender"] for row in groups] == ["female", "male"]
    for row in groups:
        assert 0.0 <= row["selection_rate"] <= 1.0
        assert 0.0 <= row["true_positive_rate"] <= 1.0
        assert row["count"] > 0
    counts = runs["v1"][FAIRNESS_ID]["power"]["groups"]
    assert {row["gender"]: row["count"] for row in groups} == counts
    rates = [row["selection_rate"] for row in groups]
    assert max(rates) - min(rates) == pytest.approx(runs["v1"][FAIRNESS_ID]["value"])
    assert (runs["dir"] / "model.pkl").stat().st_size > 0


def test_croissant_validates_and_yields_all_records() -> None:
    mlc = pytest.importorskip("mlcroissant")
    dataset = mlc.Dataset(jsonld=str(LOAN / "data" / "german_credit.croissant.json"))
    assert not dataset.metadata.ctx.issues.errors
    assert not dataset.metadata.ctx.issues.warnings
    records = list(dataset.records("applications"))
    assert len(records) == 1000
    first = records[0]
    assert first["applications/checking_status"] in (b"A11", "A11")
    assert first["applications/target"] in (0, 1)


def test_croissant_sha256_matches_csv() -> None:
    doc = json.loads((LOAN / "data" / "german_credit.croissant.json").read_text())
    (csv_object,) = [d for d in doc["distribution"] if d["contentUrl"] == "german_credit.csv"]
    digest = hashlib.sha256((LOAN / "data" / "german_credit.csv").read_bytes()).hexdigest()
    assert csv_object["sha256"] == digest


def test_csv_is_regenerated_from_uci_file(tmp_path: Path) -> None:
    out = tmp_path / "german_credit.csv"
    subprocess.run(
        [PYTHON, str(LOAN / "data" / "build_csv.py"), str(UCI_SOURCE), str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == (LOAN / "data" / "german_credit.csv").read_bytes()
