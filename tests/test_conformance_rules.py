"""Which rule decides a clause (criterion, declaration, citing measures, artefact), and signed
evidence read wherever the reference keeps it, with "a signed bundle is present" kept apart
from "its signatures verify with a trusted key"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sei_assets.core import conformance, engine
from sei_assets.core.manifest import load_manifest
from tests.reference import replay
from tests.test_conformance import LOAN, _loan_bundle


def _clauses(doc: dict) -> dict[str, dict]:
    return {c["clause_id"]: c for c in doc["payload"]["clauses"]}


def _loan_citing(tmp_path: Path, clause: str) -> Path:
    """The loan manifest with its post-market fairness measure citing ``clause`` too."""
    text = LOAN.read_text()
    marker = '                - "iso/23894@2023#6.6"\n'
    assert marker in text
    text = text.replace(marker, marker + f'                - "iso/23894@2023#{clause}"\n', 1)
    for rel in ("data", "params.yaml", "dvc.yaml"):
        source = LOAN.parent / rel
        if source.is_dir():
            shutil.copytree(source, tmp_path / rel)
        elif source.is_file():
            shutil.copyfile(source, tmp_path / rel)
    (tmp_path / "sei.yaml").write_text(text)
    return tmp_path


def test_a_declaration_decides_alone_though_a_measure_cites_it(tmp_path: Path) -> None:
    """ISO/IEC 23894 6.2 is decided by the stakeholders the manifest identifies: an audit
    measure citing it, not evaluated (post-market), does not make it covered_attested."""
    loaded = load_manifest(_loan_citing(tmp_path, "6.2"))
    doc = _clauses(conformance.project(loaded, _loan_bundle(loaded, set()), "iso/23894@2023"))
    assert doc["6.2"]["decision"] == "covered"
    assert doc["6.2"]["basis"].startswith("declaration stakeholders: affected persons")
    # an artefact yields to the measures citing the clause: 6.6 is the same measure's
    assert doc["6.6"]["decision"] == "covered_attested"
    assert doc["6.6"]["basis"].startswith("citing measures: ")
    assert "fairness-drift" in doc["6.6"]["measures"]
    # a criterion decides alone; a clause with no rule is its citations
    assert doc["6.3"]["basis"].startswith("artefact criteria_applied: ")


def test_every_clause_basis_names_the_rule_that_applied() -> None:
    loaded = load_manifest(LOAN)
    bundle = _loan_bundle(loaded, set())
    kinds = ("criterion ", "declaration ", "citing measures: ", "artefact ", "all_of: ", "any_of: ")
    kinds += ("post_market: ",)
    for standard in conformance.catalogues():
        cat = {str(c["id"]): c for c in conformance.catalogue(standard)["clauses"]}
        for clause in conformance.project(loaded, bundle, standard)["payload"]["clauses"]:
            basis = clause["basis"]
            assert basis.startswith(kinds), (standard, clause["clause_id"], basis)
            kind = conformance.precedence(cat[clause["clause_id"]].get("rule"))
            if kind in ("criterion", "declaration"):
                assert basis.startswith(kind + " "), (standard, clause["clause_id"])


def test_signed_present_and_verified_are_both_stated() -> None:
    loaded = load_manifest(LOAN)
    bundle = _loan_bundle(loaded, set())

    def clause(**kw) -> dict:
        return _clauses(conformance.project(loaded, bundle, "iso/23894@2023", **kw))["6.7"]

    unverified = clause(evidence_signed=True, evidence_verified=False, verification_note="x")
    assert unverified["decision"] == "covered"
    assert "signed evidence bundle present" in unverified["basis"]
    assert "do not verify with a trusted key: x" in unverified["basis"]
    assert "verify with a trusted key" in clause(evidence_verified=True)["basis"]
    assert "not checked" in clause()["basis"]
    assert clause(evidence_signed=False)["decision"] == "gap"
    # a clause that needs verified evidence says so, and is partial without it
    ctx = conformance.Context(
        loaded, conformance.as_bundle(bundle), "iso/23894@2023", None, True, False, True, False
    )
    needs = conformance.decide(ctx, "6.7", {"signed_bundle": {"verified": True}})
    assert needs.decision == "partial" and "needs verified evidence" in needs.basis


@pytest.mark.parametrize(
    "name,index,folder", [("talent-screening", 3, ".froga"), ("loan-scoring", 3, ".venth")]
)
def test_reference_evidence_counts_where_the_reference_keeps_it(
    tmp_path: Path, name: str, index: int, folder: str
) -> None:
    """At these commits the reference's bundle is signed in its own folder and no PUBKEY.txt
    is committed: a signed bundle is present (the clauses resting on it are covered), and the
    basis says the signatures were not verified with a trusted key."""
    replay(name, tmp_path, upto=index)
    assert not (tmp_path / folder / "PUBKEY.txt").exists()
    assert not (tmp_path / ".sei").exists()
    signed, verified, note = engine.signed_evidence(tmp_path)
    assert (signed, verified) == (True, False) and note
    written = engine.project_conformance(tmp_path, ["iso/23894@2023"], out=tmp_path / "out")
    ((doc, path),) = written
    six_seven = _clauses(doc)["6.7"]
    assert six_seven["decision"] == "covered"
    assert "do not verify with a trusted key" in six_seven["basis"]
    assert json.loads(path.read_text()) == doc


def test_no_signature_beside_the_bundle_is_no_signed_bundle(tmp_path: Path) -> None:
    replay("talent-screening", tmp_path, upto=3)
    (tmp_path / ".froga" / "bundle.json.sig").unlink()
    assert engine.signed_evidence(tmp_path) == (False, None, "")
    ((doc, _path),) = engine.project_conformance(tmp_path, ["iso/23894@2023"], out=tmp_path / "out")
    assert _clauses(doc)["6.7"]["decision"] == "gap"
