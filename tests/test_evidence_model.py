"""Typed evidence: every reference document parses into its model and writes back with the
same bytes; the shipped JSON Schemas are what the models generate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sei_assets.core.evidence import dump
from sei_assets.core.model import Bundle, ConformanceDoc, ReconstructDoc
from tests.reference import REFERENCE, commits

ROOT = Path(__file__).resolve().parent.parent


def _documents() -> list[tuple[str, str, Path]]:
    found = []
    for name in ("loan-scoring", "quickstart"):
        for commit in commits(name):
            for rel, blob in commit["files"].items():
                if rel.endswith(".sig") or not rel.endswith(".json"):
                    continue
                if rel.endswith("bundle.json") or rel.endswith("reconstruct.json"):
                    found.append((name, rel, REFERENCE / name / "blobs" / blob))
                elif "/conformance/" in rel:
                    found.append((name, rel, REFERENCE / name / "blobs" / blob))
    return sorted(set(found))


DOCUMENTS = _documents()


def _model(rel: str):
    if rel.endswith("bundle.json"):
        return Bundle
    if rel.endswith("reconstruct.json"):
        return ReconstructDoc
    return ConformanceDoc


def test_the_fixtures_hold_every_kind() -> None:
    kinds = {_model(rel).__name__ for _n, rel, _p in DOCUMENTS}
    assert kinds == {"Bundle", "ReconstructDoc", "ConformanceDoc"}
    assert len(DOCUMENTS) >= 10  # distinct documents of both histories


@pytest.mark.parametrize("name,rel,path", DOCUMENTS, ids=lambda v: str(v)[-40:])
def test_reference_document_round_trips_byte_for_byte(name: str, rel: str, path: Path) -> None:
    raw = path.read_bytes()
    record = _model(rel).from_bytes(raw)
    assert dump(record, newline=raw.endswith(b"\n")) == raw


def test_bundle_attributes_are_typed() -> None:
    path = next(p for _n, rel, p in DOCUMENTS if rel.endswith("bundle.json"))
    bundle = Bundle.from_bytes(path.read_bytes())
    first = bundle.control_results[0]
    assert isinstance(first.passed, bool) and first.control_id
    assert bundle.verdict in ("green", "red")
    assert bundle.failing == [
        r.control_id
        for r in bundle.control_results
        if r.enforcement_mode == "block" and not r.passed
    ]
    # integers stay integers, unknown fields are kept in place
    doc = json.loads(path.read_text())
    doc["future_field"] = {"x": 1}
    again = Bundle.model_validate(doc).to_json()
    assert list(again) == list(doc) and again["future_field"] == {"x": 1}


def test_an_invalid_bundle_names_the_file(tmp_path: Path) -> None:
    from sei_assets.core.errors import SeiError
    from sei_assets.core.evidence import load_bundle

    bad = tmp_path / "bundle.json"
    bad.write_text(json.dumps({"system_name": "x", "control_results": [{"control_id": 3}]}))
    with pytest.raises(SeiError, match=str(bad)):
        load_bundle(bad)


def test_shipped_schemas_are_what_the_models_generate() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sei_assets.core.model"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr + " — run: python -m sei_assets.core.model --write"
    schema = json.loads((ROOT / "schemas" / "bundle.schema.json").read_text())
    assert "control_results" in schema["properties"]
