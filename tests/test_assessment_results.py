"""`sei run` writes its evidence as a signed OSCAL assessment-results document (issue 11, 6)."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from trestle.common import const
from trestle.core.validator_factory import validator_factory
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.component import ComponentDefinition

from sei_assets.core import engine
from sei_assets.core.assessment_results import build_results, render_results
from sei_assets.core.errors import SeiError
from tests.reference import replay
from tests.systems import make_system

RESULTS = Path(".sei") / "assessment-results.oscal.json"
PLAN = "shared_data/policies/assessment_plan.oscal.yaml"


@pytest.fixture
def talent(tmp_path: Path, sei) -> Path:
    """The reference talent-screening history where one control fails and one passes."""
    replay("talent-screening", tmp_path, upto=3)
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 1  # red
    return tmp_path


def _value(field: object) -> object:
    """A trestle field that is an enum member or its plain text, as the text."""
    return getattr(field, "value", field)


def _plan_requirements(repo: Path) -> dict[str, str]:
    """control id -> uuid of the implemented requirements in the plan `sei compile` wrote."""
    plan = ComponentDefinition.oscal_read(repo / PLAN)
    return {
        req.control_id: req.uuid
        for comp in plan.components
        for impl in comp.control_implementations
        for req in impl.implemented_requirements
    }


def test_run_writes_assessment_results_trestle_validates(talent: Path) -> None:
    path = talent / RESULTS
    doc = AssessmentResults.oscal_read(path)  # trestle reads it back into its models
    for mode in (const.VAL_MODE_ALL, const.VAL_MODE_DUPLICATES, const.VAL_MODE_REFS):
        validator = validator_factory.get(argparse.Namespace(mode=mode))
        assert validator.model_is_valid(doc, quiet=True, trestle_root=None), mode

    bundle_bytes = (talent / ".sei" / "bundle.json").read_bytes()
    bundle = json.loads(bundle_bytes)
    results = bundle["control_results"]
    assert [r["control_id"] for r in results] == ["data-sample-adequacy", "model-feature-leakage"]
    (result,) = doc.results
    assert len(result.observations) == len(results) == len(result.findings)

    plan = _plan_requirements(talent)
    reviewed = result.reviewed_controls.control_selections[0].include_controls
    assert [c.control_id for c in reviewed] == list(plan)
    observations = {o.uuid: o for o in result.observations}
    assert len(observations) == len(results)
    for r, finding in zip(results, result.findings, strict=True):
        (link,) = finding.related_observations
        observation = observations[link.observation_uuid]  # the uuid resolves
        assert finding.target.target_id == r["control_id"] and r["control_id"] in plan
        assert finding.implementation_statement_uuid == plan[r["control_id"]]
        state = finding.target.status.state.value
        assert state == ("satisfied" if r["passed"] else "not-satisfied")
        props = {p.name: p.value for p in observation.props}
        assert props["metric_key"] == r["metric_key"]
        assert props["operator"] == r["operator"]
        assert float(props["threshold"]) == r["threshold"]
        assert props["enforcement_mode"] == r["enforcement_mode"]
        assert props["passed"] == json.dumps(r["passed"])
        if r["actual_value"] is None:
            assert "actual_value" not in props and observation.remarks == r["failure"]
        else:
            assert float(props["actual_value"]) == r["actual_value"]
        assert [_value(m) for m in observation.methods] == ["TEST"]
        (evidence,) = observation.relevant_evidence
        assert evidence.href == ".sei/bundle.json"
    assert {f.target.status.state.value for f in result.findings} == {"satisfied", "not-satisfied"}

    resources = {res.title: res for res in doc.back_matter.resources}
    (bundle_link,) = resources["Evidence bundle"].rlinks
    assert bundle_link.href == ".sei/bundle.json"
    assert _value(bundle_link.hashes[0].algorithm) == "SHA-256"
    assert bundle_link.hashes[0].value == hashlib.sha256(bundle_bytes).hexdigest()
    (plan_link,) = resources["Assessment plan"].rlinks
    assert plan_link.href == doc.import_ap.href == PLAN
    plan_digest = hashlib.sha256((talent / PLAN).read_bytes()).hexdigest()
    assert plan_link.hashes[0].value == plan_digest  # the plan on disk is the one assessed
    moment = bundle["generated_at"].replace("Z", "+00:00")
    assert doc.metadata.last_modified.isoformat() == moment == result.start.isoformat()
    assert bundle["system_name"] in doc.metadata.title


def test_same_bundle_same_bytes(tmp_path: Path, sei, monkeypatch: pytest.MonkeyPatch) -> None:
    replay("quickstart", tmp_path, upto=8)
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 0
    written = (tmp_path / RESULTS).read_bytes()
    bundle = (tmp_path / ".sei" / "bundle.json").read_bytes()
    plan = (tmp_path / PLAN).read_text(encoding="utf-8")
    assert render_results(plan, PLAN, bundle) == written  # a function of plan and bundle only

    # the engine run twice at one moment makes the same bundle, so the same document
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    engine.run(tmp_path, repro=False)
    first = (tmp_path / RESULTS).read_bytes()
    bundle = (tmp_path / ".sei" / "bundle.json").read_bytes()
    engine.run(tmp_path, repro=False)
    assert (tmp_path / ".sei" / "bundle.json").read_bytes() == bundle
    assert (tmp_path / RESULTS).read_bytes() == first

    # another bundle (a later moment) is another assessment: every uuid changes
    later = json.loads(bundle)
    later["generated_at"] = "2026-01-02T00:00:00Z"
    other = json.loads(render_results(plan, PLAN, json.dumps(later).encode()))
    ours = json.loads(first)

    def uuids(doc: dict) -> set[str]:
        result = doc["assessment-results"]["results"][0]
        items = [*result["observations"], *result["findings"], result, doc["assessment-results"]]
        return {item["uuid"] for item in items}

    assert len(uuids(ours)) == 2 + 2 + 2 and not uuids(ours) & uuids(other)


def test_verify_checks_the_assessment_results_signature(talent: Path, sei) -> None:
    code, doc = sei.json("verify", "--repo", str(talent))
    assert code == 0 and doc["ok"]
    verdicts = {Path(f["path"]).name: f["ok"] for f in doc["files"]}
    assert verdicts["assessment-results.oscal.json"] is True

    path = talent / RESULTS
    data = bytearray(path.read_bytes())
    i = data.index(b"not-satisfied")
    data[i] ^= 0x01  # one byte flipped
    path.write_bytes(bytes(data))
    code, doc = sei.json("verify", "--repo", str(talent))
    bad = {Path(f["path"]).name: f["reason"] for f in doc["files"] if not f["ok"]}
    assert code == 1 and not doc["ok"] and list(bad) == ["assessment-results.oscal.json"]


def test_unsigned_assessment_results_are_refused(talent: Path, sei) -> None:
    (talent / ".sei" / "assessment-results.oscal.json.sig").unlink()
    code, doc = sei.json("verify", "--repo", str(talent))
    reasons = [f["reason"] for f in doc["files"] if not f["ok"]]
    assert code == 1 and any("has no assessment-results.oscal.json.sig" in r for r in reasons)


def test_declared_control_is_examined_a_measured_one_tested(tmp_path: Path) -> None:
    repo = make_system(tmp_path / "sys_ar", "sys_ar")
    manifest = yaml.safe_load((repo / "sei.yaml").read_text())
    measures = manifest["risk"]["risks"][0]["treat"][0]["measures"]
    measures[1]["evaluation"] = "manual"  # accuracy-floor: declared, not measured
    (repo / "sei.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    outcome = engine.run(repo, repro=False)
    doc = AssessmentResults.oscal_read(outcome.files["assessment_results"])
    (result,) = doc.results
    methods = {o.title.split(":")[0]: [_value(m) for m in o.methods] for o in result.observations}
    assert methods == {"parity-gap": ["TEST"], "accuracy-floor": ["EXAMINE"]}
    index = json.loads((repo / ".sei" / "index.json").read_text())["files"]
    assert ".sei/assessment-results.oscal.json" in index
    assert ".sei/assessment-results.oscal.json.sig" in index


def test_results_refuse_a_plan_that_lacks_a_control(talent: Path) -> None:
    bundle = (talent / ".sei" / "bundle.json").read_bytes()
    plan = (talent / PLAN).read_text(encoding="utf-8")
    other = plan.replace("control-id: model-feature-leakage", "control-id: another-control")
    assert other != plan
    with pytest.raises(SeiError, match="'model-feature-leakage' of the evidence bundle is not"):
        build_results(other, PLAN, bundle)
    with pytest.raises(SeiError, match=f"{PLAN}: not an OSCAL component-definition"):
        build_results("catalog: {}\n", PLAN, bundle)
