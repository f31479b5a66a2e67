"""Impact assessment and risk backlog on the loan manifests (ours and the reference's)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from sei_assets.core import assess, impact, signing
from sei_assets.core.evidence import dump
from sei_assets.core.manifest import Risk, load_manifest
from tests.reference import blob

ROOT = Path(__file__).resolve().parents[1]
LOAN = ROOT / "resources" / "loan" / "sei.yaml"


def _reference_loan(tmp_path: Path) -> tuple[Path, dict]:
    """The reference loan manifest and its bundle at the approved commit."""
    (tmp_path / "venth.yaml").write_bytes(blob("loan-scoring", 7, "venth.yaml"))
    bundle = json.loads(blob("loan-scoring", 7, ".venth/bundle.json"))
    return tmp_path / "venth.yaml", bundle


@pytest.fixture(params=["resources", "reference"])
def loan(request: pytest.FixtureRequest, tmp_path: Path):
    """Each loan manifest with a bundle (the reference's own, or none for ours)."""
    if request.param == "resources":
        return load_manifest(LOAN), None
    path, bundle = _reference_loan(tmp_path)
    return load_manifest(path), bundle


# --------------------------------------------------------------------------- impact


def test_unaddressed_misuse_is_a_finding(loan) -> None:
    loaded, bundle = loan
    doc = impact.impact_assessment(loaded, bundle)
    assert doc["kind"] == "impact" and doc["schema_version"] == 1
    assert doc["system"] == loaded.manifest.system.name
    payload = doc["payload"]
    out = next(x for x in payload["misuses"] if x["id"] == "mu.out-of-purpose")
    assert out["addressed_by"] == [] and out["addressed"] is False and out["risks"] == []
    findings = [f for f in payload["findings"] if f["kind"] == "unaddressed_misuse"]
    assert [f["subject"] for f in findings] == ["mu.out-of-purpose"]
    assert payload["summary"]["unaddressed"] == ["mu.out-of-purpose"]
    addressed = [x for x in payload["misuses"] if x["addressed"]]
    assert addressed and all(x["risks"] for x in addressed)
    assert payload["affected_persons"] == loaded.manifest.system.affected_persons
    assert payload["decisions"] == ["loan_approval", "loan_denial"]
    assert payload["intended_purpose"] == loaded.manifest.system.intended_purpose


def test_high_tier_adds_the_fundamental_rights_assessment(loan) -> None:
    loaded, bundle = loan
    payload = impact.impact_assessment(loaded, bundle)["payload"]
    assert payload["frameworks"] == ["iso/42001@2023#6.1.4", "eu/ai-act@2024#art-27"]
    fria = payload["fundamental_rights"]
    assert fria["elements"]["c_affected_persons"] is True
    assert fria["elements"]["b_period_and_frequency"] is True  # review_interval P6M


def test_risk_levels_come_from_the_bundle(tmp_path: Path) -> None:
    path, bundle = _reference_loan(tmp_path)
    loaded = load_manifest(path)
    with_bundle = impact.impact_assessment(loaded, bundle)["payload"]
    subgroups = next(x for x in with_bundle["misuses"] if x["id"] == "mu.unfair-subgroups")
    [risk] = subgroups["risks"]
    assert risk["risk_id"] == "risk.unfair-credit-exclusion"
    assert (risk["inherent_level"], risk["residual_level"]) == ("HIGH", "MEDIUM")
    assert (risk["level"], risk["cycle"]) == ("MEDIUM", "closed")
    proxy = next(x for x in with_bundle["misuses"] if x["id"] == "mu.proxy-discrimination")
    governance = next(r for r in proxy["risks"] if r["risk_id"] == "risk.data-governance")
    assert (governance["level"], governance["cycle"]) == ("HIGH", "monitored")
    without = impact.impact_assessment(loaded, None)["payload"]
    assert without["risk_levels_from_bundle"] is False
    assert "level" not in without["misuses"][0]["risks"][0]


def test_open_addressing_risk_is_a_finding(tmp_path: Path) -> None:
    path, bundle = _reference_loan(tmp_path)
    for entry in bundle["risk_analysis"]:
        if entry["risk_id"] == "risk.unfair-credit-exclusion":
            entry["cycle"] = {"status": "open"}
    payload = impact.impact_assessment(load_manifest(path), bundle)["payload"]
    kinds = sorted((f["kind"], f["subject"]) for f in payload["findings"])
    assert ("open_risk", "mu.unfair-subgroups") in kinds
    assert ("unaddressed_misuse", "mu.out-of-purpose") in kinds


def test_impact_is_signed_and_deterministic(loan, tmp_path: Path) -> None:
    loaded, bundle = loan
    key = signing.load_or_create_key()
    first = dump(impact.impact_assessment(loaded, bundle))
    assert first == dump(impact.impact_assessment(loaded, bundle))
    out = tmp_path / "repo"
    path = impact.write_impact(out, impact.impact_assessment(loaded, bundle), key)
    assert path == out / ".sei" / "impact.json" and path.read_bytes() == first
    assert signing.verify_file(path, signing.public_key_hex(key)).ok


# --------------------------------------------------------------------------- assess


def _declared(loaded) -> tuple[set[str], set[tuple[str, str, str | None]]]:
    risks = loaded.manifest.risk.risks
    ids = {r.id for r in risks}
    measured = {(r.domain, m.metric, m.inputs.get("dimension")) for r in risks for m in r.measures}
    return ids, measured


def test_assess_proposes_undeclared_credit_risks_only(loan) -> None:
    loaded, bundle = loan
    doc = assess.assess(loaded, bundle)
    assert doc["kind"] == "risk_backlog" and doc["system"] == loaded.manifest.system.name
    payload = doc["payload"]
    assert [c["id"] for c in payload["facts"]["categories"]] == ["credit"]
    assert payload["facts"]["categories"][0]["annex_iii"] == "5(b)"
    proposals = payload["proposals"]
    credit = [p for p in proposals if p["id"].startswith("risk.credit-")]
    assert credit, "at least one credit-specific risk proposed"
    assert all(any("Annex III 5(b)" in w for w in p["why"]) for p in credit)
    ids, measured = _declared(loaded)
    measure_ids = {m.id for _r, m in loaded.manifest.measures}
    for p in proposals:
        assert p["id"] not in ids
        assert p["id"].startswith("risk.")
        for t in p["treat"]:
            for m in t["measures"]:
                dim = (m.get("inputs") or {}).get("dimension")
                same = {(d, x, y) for d, x, y in measured if d == p["domain"] and x == m["metric"]}
                assert not same or (dim is not None and (p["domain"], m["metric"], dim) not in same)
                assert m["id"] not in measure_ids
        Risk.model_validate({k: p[k] for k in assess.RISK_KEYS})  # pasteable as is
    assert [p["id"] for p in proposals] + [s["id"] for s in payload["skipped"]]


def test_assess_skips_what_the_resources_manifest_declares() -> None:
    doc = assess.assess(load_manifest(LOAN), None)
    skipped = {s["id"]: s["reason"] for s in doc["payload"]["skipped"]}
    # equalized_odds_diff is measured by the declared fairness risk.
    assert "risk.parity-hides-error-disparity" in skipped
    assert "risk.unfair-credit-exclusion" in skipped["risk.parity-hides-error-disparity"]
    # the declared data risk already floors the smallest group.
    assert "risk.underpowered-group-evidence" in skipped
    proposed = {p["id"] for p in doc["payload"]["proposals"]}
    assert not proposed & set(skipped)


def test_assess_on_education_infers_annex_iii_3(tmp_path: Path) -> None:
    (tmp_path / "froga.yaml").write_bytes(blob("quickstart", 9, "froga.yaml"))
    doc = assess.assess(load_manifest(tmp_path), None)
    assert [c["id"] for c in doc["payload"]["facts"]["categories"]] == ["education"]
    assert any(p["id"].startswith("risk.education-") for p in doc["payload"]["proposals"])
    assert not any(p["id"].startswith("risk.credit-") for p in doc["payload"]["proposals"])


def test_a_declared_proposal_is_skipped_by_id(tmp_path: Path) -> None:
    data = yaml.safe_load(LOAN.read_text())
    first = assess.assess(load_manifest(LOAN), None)["payload"]["proposals"][0]
    data["risk"]["risks"].append({k: first[k] for k in assess.RISK_KEYS})
    (tmp_path / "sei.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    doc = assess.assess(load_manifest(tmp_path), None)
    assert first["id"] not in {p["id"] for p in doc["payload"]["proposals"]}
    assert {"id": first["id"], "reason": "declared in the manifest"} in doc["payload"]["skipped"]


def test_catalogue_spans_the_domains() -> None:
    data = assess.knowledge()
    risks = data["risks"]
    assert len(risks) >= 20
    assert len({r["id"] for r in risks}) == len(risks)
    measure_ids = [m["id"] for r in risks for t in r["treat"] for m in t["measures"]]
    assert len(set(measure_ids)) == len(measure_ids)
    categories = {c["id"]: c for c in data["categories"]}
    assert {"credit", "employment", "education", "medical", "biometrics"} <= set(categories)
    assert categories["credit"]["annex_iii"] == "5(b)"
    assert categories["employment"]["annex_iii"] == "4"
    assert categories["education"]["annex_iii"] == "3"
    used = {c for r in risks for c in r.get("when", {}).get("categories", [])}
    assert {"credit", "employment", "education", "medical", "biometrics"} <= used
    generic = {"task_types": ["classification"], "modalities": ["tabular"]}
    assert any(r["when"] == generic for r in risks)
    for r in risks:
        assert r["id"].startswith("risk.")
        assert set(r["when"]) <= set(assess.CONDITIONS), r["id"]
        Risk.model_validate({k: r[k] for k in assess.RISK_KEYS})


def test_backlog_is_deterministic_signed_and_pasteable(loan, tmp_path: Path) -> None:
    loaded, bundle = loan
    key = signing.load_or_create_key()
    a, b = tmp_path / "a", tmp_path / "b"
    pa = assess.write_backlog(a, assess.assess(loaded, bundle), key)
    pb = assess.write_backlog(b, assess.assess(loaded, bundle), key)
    assert pa.read_bytes() == pb.read_bytes()
    snippet_a = (a / ".sei" / "risk_backlog.yaml").read_bytes()
    assert snippet_a == (b / ".sei" / "risk_backlog.yaml").read_bytes()
    assert pa == a / ".sei" / "risk_backlog.json"
    assert signing.verify_file(pa, signing.public_key_hex(key)).ok
    envelope = json.loads(signing.sig_path(pa).read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"][0]["name"] == "risk_backlog.json"
    pasted = yaml.safe_load(snippet_a)
    doc = json.loads(pa.read_text())
    assert [r["id"] for r in pasted] == [p["id"] for p in doc["payload"]["proposals"]]
    # Pasting the snippet under risk.risks gives a manifest that still loads.
    data = yaml.safe_load(loaded.path.read_text())
    data["risk"]["risks"].extend(pasted)
    (tmp_path / "grown").mkdir()
    (tmp_path / "grown" / loaded.path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    grown = load_manifest(tmp_path / "grown")
    assert {r["id"] for r in pasted} <= {r.id for r in grown.manifest.risk.risks}
    assert assess.assess(grown, None)["payload"]["proposals"] == []
