"""Conformance projections: the reference's decisions, the catalogues, approvals, signatures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sei_assets.core import conformance, counting, signing
from sei_assets.core.manifest import LoadedManifest, load_manifest
from tests.reference import blob, commits, replay

ROOT = Path(__file__).resolve().parents[1]
LOAN = ROOT / "resources" / "loan" / "sei.yaml"
# Every commit of the reference histories that carries conformance files.
ORACLE = [
    (name, c["index"])
    for name in ("loan-scoring", "quickstart", "talent-screening")
    for c in commits(name)
    if any("/conformance/" in p for p in c["files"])
]
EVIDENCE = {
    "loan-scoring": (".venth", "venth.yaml"),
    "quickstart": (".froga", "froga.yaml"),
    "talent-screening": (".froga", "froga.yaml"),
}


def _materialise(name: str, index: int, dest: Path) -> Path:
    """Write the manifest and the evidence directory of one reference commit into ``dest``."""
    evidence, manifest = EVIDENCE[name]
    for path in commits(name)[index]["files"]:
        if path == manifest or path.startswith(evidence + "/"):
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob(name, index, path))
    return dest / evidence


def _as_the_reference_counts(lifecycle: dict | None) -> dict | None:
    """The reference counts an approval trailer as it is; this engine counts only a decision
    signed under a trusted roster (``core/counting.py``). To compare projections clause by
    clause, the reference's approval is given as one that counts; the departure itself is
    tested in test_approval_flips_prEN_18228_clause_11_as_in_the_reference."""
    return {**lifecycle, "counted": True} if lifecycle else lifecycle


def _reference(name: str, index: int, dest: Path) -> tuple[LoadedManifest, dict, dict, bool, Path]:
    """Manifest, bundle, approval state (reconstruct lifecycle, as the reference counts it) and
    signature status."""
    ev = _materialise(name, index, dest)
    loaded = load_manifest(dest)
    bundle = json.loads((ev / "bundle.json").read_text())
    lifecycle = json.loads((ev / "reconstruct.json").read_text())["payload"]["lifecycle"]
    lifecycle = _as_the_reference_counts(lifecycle)
    pubkey = (ev / "PUBKEY.txt").read_text().strip()
    signed = signing.verify_file(ev / "bundle.json", pubkey).ok
    return loaded, bundle, lifecycle, signed, ev


def _decisions(doc: dict) -> dict[str, tuple[str, list[str]]]:
    return {c["clause_id"]: (c["decision"], c["measures"]) for c in doc["payload"]["clauses"]}


def test_oracle_commits_are_the_expected_ones() -> None:
    assert ORACLE == [
        ("loan-scoring", 4),
        ("loan-scoring", 5),
        ("loan-scoring", 6),
        ("loan-scoring", 7),
        ("quickstart", 9),
        ("quickstart", 10),
        ("talent-screening", 4),
        ("talent-screening", 5),
    ]
    # the standards the reference projected: no MDR (eu/mdr@2017) output in any history
    projected = {
        p.rsplit("/", 1)[-1]
        for name, index in ORACLE
        for p in commits(name)[index]["files"]
        if "/conformance/" in p and p.endswith(".json")
    }
    assert not any("mdr" in p for p in projected) and len(projected) == 5


@pytest.mark.parametrize("name,index", ORACLE)
def test_projection_matches_reference_clause_by_clause(
    tmp_path: Path, name: str, index: int
) -> None:
    loaded, bundle, approval, signed, ev = _reference(name, index, tmp_path)
    assert signed
    files = sorted((ev / "conformance").glob("*.json"))
    assert files
    for path in files:
        reference = json.loads(path.read_text())
        standard = reference["payload"]["standard"]
        assert path.stem == conformance.standard_slug(standard)
        ours = conformance.project(loaded, bundle, standard, approval, signed)
        assert list(ours) == list(reference)  # schema_version, kind, system, payload
        assert {k: ours[k] for k in ("schema_version", "kind", "system")} == {
            k: reference[k] for k in ("schema_version", "kind", "system")
        }
        assert list(ours["payload"]) == list(reference["payload"]) == ["clauses", "standard"]
        ref_clauses = reference["payload"]["clauses"]
        our_clauses = ours["payload"]["clauses"]
        assert [c["clause_id"] for c in our_clauses] == [c["clause_id"] for c in ref_clauses]
        for mine, theirs in zip(our_clauses, ref_clauses, strict=True):
            assert list(mine) == list(theirs)  # same keys, same (sorted) order
            where = f"{standard} {theirs['clause_id']}"
            assert mine["decision"] == theirs["decision"], where
            assert mine["measures"] == theirs["measures"], where
            assert mine["cycle_phase"] == theirs["cycle_phase"], where


@pytest.mark.parametrize(
    "name,index",
    [("loan-scoring", 4), ("loan-scoring", 7), ("quickstart", 9), ("talent-screening", 4)],
)
def test_our_engine_bundle_projects_to_the_reference_decisions(
    tmp_path: Path, name: str, index: int
) -> None:
    from sei_assets.core import engine

    replay(name, tmp_path, upto=index)
    loaded = load_manifest(tmp_path)
    bundle, _results, _bom, _inputs = engine.evaluate(loaded, engine.reproduce(loaded, False))
    ev = tmp_path / EVIDENCE[name][0]
    approval = json.loads((ev / "reconstruct.json").read_text())["payload"]["lifecycle"]
    approval = _as_the_reference_counts(approval)
    for path in sorted((ev / "conformance").glob("*.json")):
        reference = json.loads(path.read_text())
        ours = conformance.project(loaded, bundle, reference["payload"]["standard"], approval)
        assert [
            (c["clause_id"], c["decision"], c["measures"]) for c in ours["payload"]["clauses"]
        ] == [
            (c["clause_id"], c["decision"], c["measures"]) for c in reference["payload"]["clauses"]
        ]


def test_approval_flips_prEN_18228_clause_11_as_in_the_reference(tmp_path: Path) -> None:
    loaded, bundle, approval, signed, _ev = _reference("loan-scoring", 7, tmp_path)
    assert approval["state"] == "approved" and approval["stale"] is False
    approved = _decisions(conformance.project(loaded, bundle, "eu/pren-18228@2026", approval))
    draft = _decisions(conformance.project(loaded, bundle, "eu/pren-18228@2026", None))
    assert approved["11"][0] == "covered" and draft["11"][0] == "gap"
    assert {k: v for k, v in approved.items() if k != "11"} == {
        k: v for k, v in draft.items() if k != "11"
    }
    # the departure: as read here, the reference's trailer is unsigned and no roster is trusted,
    # so it counts for nothing and clause 11 stays a gap, saying why
    as_read = {**approval, "counted": False, "counting": counting.UNSIGNED}
    doc = conformance.project(loaded, bundle, "eu/pren-18228@2026", as_read)
    (eleven,) = [c for c in doc["payload"]["clauses"] if c["clause_id"] == "11"]
    assert eleven["decision"] == "gap"
    assert eleven["basis"].endswith(f"{counting.UNSIGNED}; {counting.NO_ROSTER}")


REVIEW_CLAUSES = {
    "eu/pren-18228@2026": "11",
    "iso/42001@2023": "9.3",
    "nist/ai-rmf@1.0": "GOVERN-2",
}


@pytest.mark.parametrize("standard,clause", sorted(REVIEW_CLAUSES.items()))
def test_management_review_follows_approval_and_staleness(standard: str, clause: str) -> None:
    loaded = load_manifest(LOAN)
    bundle = _loan_bundle(loaded, failing=set())
    approved = {
        "state": "approved",
        "by": "Quality Lead <quality@example.test>",
        "sha": "0" * 40,
        "date": "2026-01-01T00:00:00Z",
        "stale": False,
        "counted": True,
    }

    def decision(approval: dict | None) -> str:
        doc = conformance.project(loaded, bundle, standard, approval)
        return next(c for c in doc["payload"]["clauses"] if c["clause_id"] == clause)["decision"]

    assert decision(None) in ("gap", "partial")
    assert decision({"state": "requested"}) in ("gap", "partial")
    assert decision(approved) in ("covered", "covered_attested")
    assert decision({**approved, "stale": True}) == decision(None)
    assert decision({**approved, "counted": False}) == decision(None)


def _loan_bundle(loaded: LoadedManifest, failing: set[str]) -> dict[str, Any]:
    """A bundle for the loan resources manifest: every control passes except ``failing``."""
    from sei_assets.core.controls import compile_controls, evaluate_controls
    from sei_assets.core.risk import analyse, overall_residual

    controls = compile_controls(loaded.manifest)
    metrics: dict[str, Any] = {}
    for c in controls:
        # a passing value inside the metric's domain (a bound itself for <=, >=, ==)
        if c.operator in ("lte", "gte", "eq"):
            good = c.threshold
        else:
            good = c.threshold + (0.01 if c.operator == "gt" else -0.01)
        bad = c.threshold - (0.5 if c.operator in ("gt", "gte") else -0.5)
        value = bad if c.control_id in failing else good
        metrics[c.control_id] = {
            "value": value,
            "power": {"n": 300, "ci_low": value - 0.001, "ci_high": value + 0.001},
        }
    results = evaluate_controls(controls, metrics)
    program = loaded.manifest.risk
    analysis = analyse(program, results)
    return {
        "system_name": loaded.manifest.system.name,
        "control_results": [r.to_json() for r in results],
        "risk_analysis": analysis,
        "overall_residual": overall_residual(program, analysis),
        "treatment_events": [],
        "data_governance": {"croissant_digest": "sha256:" + "0" * 64},
        "bom": {"components": [{"name": "scikit-learn", "purl": "pkg:pypi/scikit-learn@1.5"}]},
        "review_interval": program.review_interval,
    }


def test_cited_decisions_covered_partial_gap_and_attested() -> None:
    loaded = load_manifest(LOAN)
    green = _decisions(
        conformance.project(loaded, _loan_bundle(loaded, set()), "eu/pren-18228@2026")
    )
    one_fails = _decisions(
        conformance.project(
            loaded, _loan_bundle(loaded, {"unfair-credit-exclusion"}), "eu/pren-18228@2026"
        )
    )
    # 9.2 is cited by six evaluated measures: all pass, then one fails.
    assert green["9.2"][0] == "covered"
    assert one_fails["9.2"][0] == "partial"
    assert (
        green["9.2"][1] == sorted(green["9.2"][1]) and "unfair-credit-exclusion" in green["9.2"][1]
    )
    # prEN 18283 bias.monitoring's artifact rule (a monitoring plan) yields to the measure that
    # cites the clause: declared for monitoring, not measured yet, so covered_attested.
    bias = _decisions(
        conformance.project(loaded, _loan_bundle(loaded, set()), "eu/pren-18283@2026")
    )
    assert bias["bias.monitoring"] == ("covered_attested", ["fairness-drift"])
    # A criterion decides alone although measures cite the clause (prEN 18228 9.3); without a
    # residual for a risk with a blocking control it is unmet, whatever the citing measures say.
    every = copy.deepcopy(_loan_bundle(loaded, set()))
    for entry in every["risk_analysis"]:
        entry.setdefault("residual_overall", "LOW")
    assert _decisions(conformance.project(loaded, every, "eu/pren-18228@2026"))["9.3"] == (
        "covered",
        [],
    )
    blocking = {r["risk_id"] for r in every["control_results"] if r["enforcement_mode"] == "block"}
    one = next(e for e in every["risk_analysis"] if e["risk_id"] in blocking)
    del one["residual_overall"]
    residual = _decisions(conformance.project(loaded, every, "eu/pren-18228@2026"))["9.3"]
    assert residual == ("gap", [])
    # The only measure citing bias.residual_evaluation fails: gap.
    failing = conformance.project(
        loaded, _loan_bundle(loaded, {"unfair-credit-exclusion"}), "eu/pren-18283@2026"
    )
    assert _decisions(failing)["bias.residual_evaluation"] == ("gap", ["unfair-credit-exclusion"])
    # A clause cited only by a declared (monitoring, manual) measure: covered_attested.
    act = _decisions(conformance.project(loaded, _loan_bundle(loaded, set()), "eu/ai-act@2024"))
    assert act["art-14"] == ("covered_attested", ["human-review-of-denials"])
    # Sub-control citations roll up to ISO/IEC 42001 Annex A control objectives.
    iso = _decisions(conformance.project(loaded, _loan_bundle(loaded, set()), "iso/42001@2023"))
    assert iso["A.7"] == ("covered", ["group-sample-floor", "missing-value-rate"])
    assert iso["A.6.2"][1] == ["accuracy-floor", "prediction-stability", "roc-auc-floor"]


def test_no_signed_bundle_is_a_gap() -> None:
    loaded = load_manifest(LOAN)
    bundle = _loan_bundle(loaded, set())
    signed = _decisions(conformance.project(loaded, bundle, "iso/23894@2023"))
    unsigned = _decisions(conformance.project(loaded, bundle, "iso/23894@2023", None, False))
    assert signed["6.7"][0] == "covered" and unsigned["6.7"][0] == "gap"


def test_standard_slug() -> None:
    assert conformance.standard_slug("eu/dora@2022") == "eu_dora_2022"
    assert conformance.standard_slug("eu/pren-18228@2026") == "eu_pren-18228_2026"
    assert conformance.standard_slug("iso/23894@2023") == "iso_23894_2023"
    assert conformance.standard_slug("nist/ai-rmf@1.0") == "nist_ai-rmf_1.0"


def test_applicable_keeps_manifest_order_and_drops_unknown(tmp_path: Path) -> None:
    loaded = load_manifest(LOAN)
    assert conformance.applicable(loaded) == loaded.manifest.context.applicable_standards
    data = yaml.safe_load(LOAN.read_text())
    data["context"]["applicable_standards"] = ["iso/99999@2030", "eu/mdr@2017", "iso/23894@2023"]
    (tmp_path / "sei.yaml").write_text(yaml.safe_dump(data))
    assert conformance.applicable(load_manifest(tmp_path)) == ["eu/mdr@2017", "iso/23894@2023"]


def test_unknown_standard_is_refused() -> None:
    from sei_assets.core.errors import SeiError

    loaded = load_manifest(LOAN)
    with pytest.raises(SeiError, match="no clause catalogue"):
        conformance.project(loaded, {}, "iso/99999@2030")


# --------------------------------------------------------------------------- catalogues

EXPECTED = {
    "eu/ai-act@2024": [
        "art-9",
        "art-10",
        "art-11",
        "art-12",
        "art-13",
        "art-14",
        "art-15",
        "art-17",
        "art-72",
        "art-73",
    ],
    "iso/42001@2023": [
        "4.1",
        "4.2",
        "4.3",
        "4.4",
        "5.1",
        "5.2",
        "5.3",
        "6.1.1",
        "6.1.2",
        "6.1.3",
        "6.1.4",
        "6.2",
        "6.3",
        "7.1",
        "7.2",
        "7.3",
        "7.4",
        "7.5",
        "8.1",
        "8.2",
        "8.3",
        "8.4",
        "9.1",
        "9.2",
        "9.3",
        "10.1",
        "10.2",
        "A.2",
        "A.3",
        "A.4",
        "A.5",
        "A.6.1",
        "A.6.2",
        "A.7",
        "A.8",
        "A.9",
        "A.10",
    ],
    "nist/ai-rmf@1.0": [
        *(f"GOVERN-{i}" for i in range(1, 7)),
        *(f"MAP-{i}" for i in range(1, 6)),
        *(f"MEASURE-{i}" for i in range(1, 5)),
        *(f"MANAGE-{i}" for i in range(1, 5)),
    ],
    # The twelve ids the reference publishes for MDR, then ours (Annex I 17.4, Annexes II-III).
    "eu/mdr@2017": [
        "mdr.gspr-1-safety-performance",
        "mdr.gspr-3-risk-management",
        "mdr.gspr-4-risk-control",
        "mdr.gspr-8-residual-risk",
        "mdr.gspr-17-1-performance",
        "mdr.gspr-17-2-sw-lifecycle",
        "mdr.gspr-17-1-single-fault",
        "mdr.gspr-23-information",
        "mdr.pms-postmarket",
        "mdr.soup-inventory",
        "mdr.soup-requirements",
        "mdr.soup-risk",
        "mdr.gspr-17-4-it-security",
        "mdr.annex-ii-technical-documentation",
        "mdr.annex-iii-pms-documentation",
    ],
}


def test_every_catalogue_is_well_formed() -> None:
    ids = conformance.catalogues()
    assert ids == sorted(
        [
            "eu/ai-act@2024",
            "eu/dora@2022",
            "eu/mdr@2017",
            "eu/pren-18228@2026",
            "eu/pren-18282@2026",
            "eu/pren-18283@2026",
            "iso/23894@2023",
            "iso/42001@2023",
            "nist/ai-rmf@1.0",
        ]
    )
    for standard in ids:
        cat = conformance.catalogue(standard)
        assert cat["title"]
        clause_ids = [str(c["id"]) for c in cat["clauses"]]
        assert len(clause_ids) == len(set(clause_ids)), standard
        for clause in cat["clauses"]:
            assert clause["title"] and clause["cycle_phase"], (standard, clause["id"])
            conformance.check_rule(clause.get("rule"))


@pytest.mark.parametrize("standard", sorted(EXPECTED))
def test_new_catalogues_are_complete(standard: str) -> None:
    cat = conformance.catalogue(standard)
    assert [str(c["id"]) for c in cat["clauses"]] == EXPECTED[standard]


def test_unknown_rule_is_refused() -> None:
    from sei_assets.core.errors import SeiError

    with pytest.raises(SeiError, match="unknown conformance rule"):
        conformance.check_rule({"all_of": ["stakeholders", "no_such_rule"]})
    with pytest.raises(SeiError):
        conformance.check_rule({"any_of": []})


@pytest.mark.parametrize("standard", sorted(EXPECTED) + ["iso/23894@2023", "eu/dora@2022"])
def test_every_catalogue_projects_the_loan_system(standard: str) -> None:
    loaded = load_manifest(LOAN)
    doc = conformance.project(loaded, _loan_bundle(loaded, set()), standard)
    decisions = {c["decision"] for c in doc["payload"]["clauses"]}
    assert decisions <= set(conformance.DECISIONS)
    assert "covered" in decisions
    assert doc["payload"]["standard"] == standard and doc["system"] == "loan-scoring"


# --------------------------------------------------------------------------- signed output


def test_written_conformance_verifies_and_refuses_tampering(tmp_path: Path) -> None:
    loaded = load_manifest(LOAN)
    key = signing.load_or_create_key()
    bundle = _loan_bundle(loaded, set())
    paths = [
        conformance.write(tmp_path, conformance.project(loaded, bundle, s), key)
        for s in conformance.applicable(loaded)
    ]
    assert paths[0] == tmp_path / ".sei" / "conformance" / "eu_ai-act_2024.json"
    pubkey = signing.public_key_hex(key)
    for path in paths:
        verdict = signing.verify_file(path, pubkey)
        assert verdict.ok, verdict.reason
        envelope = json.loads(signing.sig_path(path).read_text())
        import base64

        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["subject"][0]["name"] == f"conformance/{path.name}"
    assert signing.verify_evidence(tmp_path).ok
    doc = json.loads(paths[0].read_text())
    altered = copy.deepcopy(doc)
    altered["payload"]["clauses"][0]["decision"] = "covered"
    altered["payload"]["clauses"][0]["basis"] += " "
    paths[0].write_text(json.dumps(altered, indent=2))
    assert not signing.verify_file(paths[0], pubkey).ok


def test_projection_is_deterministic() -> None:
    from sei_assets.core.evidence import dump

    loaded = load_manifest(LOAN)
    bundle = _loan_bundle(loaded, {"unfair-credit-exclusion"})
    for standard in conformance.applicable(loaded):
        first = dump(conformance.project(loaded, bundle, standard))
        assert first == dump(conformance.project(loaded, copy.deepcopy(bundle), standard))


def _rule_names(spec: object) -> set[str]:
    """Every rule name a rule spec uses, its compositions' parts included."""
    name, params = conformance._parse(spec)
    if name in conformance.COMBINATORS:
        return {name}.union(*(_rule_names(part) for part in params))
    if name in conformance.WRAPPERS:
        return {name} | _rule_names(params["plan"])
    return {name}


@pytest.mark.parametrize("standard", conformance.catalogues())
def test_each_clause_states_the_basis_its_rule_has(standard: str) -> None:
    """Every clause says which evidence decides it, and the kind it names is the rule's kind:
    a criterion decides alone, an artifact yields to citing measures, no rule is citations, a
    composition names its parts (and covered_attested when a part cites measures)."""
    for clause in conformance.catalogue(standard)["clauses"]:
        basis = clause.get("basis") or ""
        name, _params = conformance._parse(clause.get("rule"))
        if name in conformance.CRITERIA:
            kind = "Criterion, decides alone"
        elif name in conformance.DECLARATIONS:
            kind = "Declaration, decides alone"
        elif name == "cited":
            kind = "Measures citing the clause"
        elif name == "any_of":
            kind = "Any of"
        elif name == "all_of":
            kind = "All of"
        elif name == "post_market":
            kind = "Post-market"
        else:
            kind = "Artifact"
        assert basis.startswith(kind), (standard, clause["id"], basis)
        assert "covered" in basis and "gap" in basis or "as for" in basis, (clause["id"], basis)
        if kind == "Artifact":
            assert "measures citing the clause decide first" in basis, clause["id"]
        if kind in ("Any of", "All of", "Post-market") and "cited" in _rule_names(
            clause.get("rule")
        ):
            assert "measures citing the clause" in basis, (clause["id"], basis)
            assert "covered_attested" in basis, (clause["id"], basis)
