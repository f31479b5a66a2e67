"""`status`: typed drift per section from sei.lock, without recomputing anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core import signing
from tests.reference import replay


@pytest.fixture
def evaluated(tmp_path: Path, sei) -> Path:
    """The reference loan repository at V2, evaluated by our engine (sei.lock written)."""
    replay("loan-scoring", tmp_path, upto=3)
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 0
    return tmp_path


def _stale(sei, repo: Path) -> tuple[int, dict[str, str]]:
    code, doc = sei.json("status", "--repo", str(repo))
    return code, {s["section"]: s["drift_class"] for s in doc["sections"] if not s["fresh"]}


def test_fresh_after_run(evaluated: Path, sei) -> None:
    code, stale = _stale(sei, evaluated)
    assert (code, stale) == (0, {})
    result = sei("status", "--repo", str(evaluated))
    assert "last gate: green" in result.stdout


def test_treatment_change_is_class_b(evaluated: Path, sei) -> None:
    (evaluated / "params.yaml").write_text("seed: 42\nmitigate: false\n")
    code, stale = _stale(sei, evaluated)
    assert (code, stale) == (1, {"measurement-model": "B"})
    assert (
        "stale (class B: model/treatment changed)" in sei("status", "--repo", str(evaluated)).stdout
    )


def test_data_change_is_class_c(evaluated: Path, sei) -> None:
    csv = evaluated / "data" / "german_credit.csv"
    csv.write_bytes(csv.read_bytes().replace(b"\n", b"\r\n", 1))
    code, stale = _stale(sei, evaluated)
    assert (code, stale) == (1, {"measurement-data": "C"})


def test_scope_change_is_class_a(evaluated: Path, sei) -> None:
    manifest = evaluated / "venth.yaml"
    manifest.write_text(
        manifest.read_text().replace('constraint: "< 0.092"', 'constraint: "< 0.05"')
    )
    code, stale = _stale(sei, evaluated)
    assert (code, stale) == (1, {"risks": "A"})


def test_comment_only_edit_is_not_drift(evaluated: Path, sei) -> None:
    manifest = evaluated / "venth.yaml"
    manifest.write_text(manifest.read_text() + "\n# a comment changes no declaration\n")
    assert _stale(sei, evaluated) == (0, {})


def test_red_gate_makes_status_fail(evaluated: Path, sei) -> None:
    bundle = evaluated / ".sei" / "bundle.json"
    doc = json.loads(bundle.read_text())
    doc["gate"] = "red"
    bundle.write_text(json.dumps(doc))
    signing.sign_file(bundle, signing.load_or_create_key())  # a red gate, genuinely signed
    code, doc = sei.json("status", "--repo", str(evaluated))
    assert code == 1 and doc["gate"] == "red" and doc["stale_classes"] == []
    assert doc["evidence_verified"] is True and doc["evidence_problem"] is None


def test_status_does_not_recompute(evaluated: Path, sei) -> None:
    before = {p: p.stat().st_mtime_ns for p in evaluated.rglob("*") if ".git" not in p.parts}
    (evaluated / "params.yaml").write_text("seed: 7\n")
    sei("status", "--repo", str(evaluated))
    after = {p: p.stat().st_mtime_ns for p in evaluated.rglob("*") if ".git" not in p.parts}
    changed = {p.name for p in after if after[p] != before.get(p)}
    assert changed == {"params.yaml"}


def test_status_without_manifest_exits_2(tmp_path: Path, sei) -> None:
    result = sei("status", "--repo", str(tmp_path))
    assert result.exit_code == 2 and "no manifest" in result.stderr
