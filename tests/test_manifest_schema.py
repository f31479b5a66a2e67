"""The whole manifest schema: enforcement modes, life-cycle stages, post-market plans, unknown
keys (a near miss is an error, anything else a warning kept in the evidence)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sei_assets.core import conformance
from sei_assets.core.controls import compile_controls, evaluate_controls
from sei_assets.core.errors import ManifestError
from sei_assets.core.gate import alarm, failing_blocking, verdict, warnings
from sei_assets.core.manifest import (
    PLAN_PHASES,
    POST_MARKET,
    iso_duration,
    load_manifest,
    near_miss,
)
from sei_assets.core.means import post_market_measures
from sei_assets.core.oscal import read_plan, write_plan
from tests.systems import make_system, manifest

MEASURE = "risk.risks[0].treat[0].measures"


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "sei.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _with_measure(**extra: Any) -> dict[str, Any]:
    """The generated manifest with ``extra`` keys on its first measure (parity-gap)."""
    doc = manifest("schema")
    doc["risk"]["risks"][0]["treat"][0]["measures"][0].update(extra)
    return doc


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def _refused(tmp_path: Path, doc: dict[str, Any]) -> tuple[ManifestError, Path]:
    path = _write(tmp_path, doc)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return info.value, path


# --------------------------------------------------------------------------- enforcement


def test_enforcement_modes_compile_to_the_reference_sdk_modes(tmp_path: Path) -> None:
    doc = _with_measure(enforcement="monitor")
    loaded = load_manifest(_write(tmp_path, doc))
    modes = {c.control_id: c.enforcement_mode for c in compile_controls(loaded.manifest)}
    assert modes == {"parity-gap": "monitor", "accuracy-floor": "warn"}
    path, _ = write_plan(loaded)
    props = {c["control_id"]: c["props"] for c in read_plan(path)}
    assert props["parity-gap"]["enforcement_mode"] == "monitor"
    bad, path = _refused(tmp_path, _with_measure(enforcement="monitr"))
    assert bad.key_path == f"{MEASURE}[0].enforcement" and bad.suggestion == "monitor"
    assert bad.line == _line_of(path, "enforcement: monitr")
    assert "'gate', 'audit' or 'monitor'" in bad.expected


def test_the_gate_rule_of_each_mode() -> None:
    assert [alarm(m, False) for m in ("block", "warn", "monitor")] == ["block", "warn", None]
    assert [alarm(m, True) for m in ("block", "warn", "monitor")] == [None, None, None]
    rows = [
        {"control_id": "b", "enforcement_mode": "block", "passed": False},
        {"control_id": "w", "enforcement_mode": "warn", "passed": False},
        {"control_id": "m", "enforcement_mode": "monitor", "passed": False},
    ]
    assert failing_blocking(rows) == ["b"] and warnings(rows) == ["w"]
    assert verdict(rows[1:]) == "green" and verdict(rows) == "red"


def test_a_failing_monitor_control_is_reported_never_blocks_nor_warns(
    tmp_path: Path, sei: Any
) -> None:
    repo = make_system(tmp_path / "sys", "monitored", bias=1.0)  # the parity gap fails
    doc = yaml.safe_load((repo / "sei.yaml").read_text())
    doc["risk"]["risks"][0]["treat"][0]["measures"][0]["enforcement"] = "monitor"
    (repo / "sei.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = sei("run", "--repo", str(repo))
    assert result.exit_code == 0, result.output
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    gap = next(r for r in bundle["control_results"] if r["control_id"] == "parity-gap")
    assert gap["enforcement_mode"] == "monitor" and gap["passed"] is False
    assert gap["actual_value"] > 0.05  # evaluated, and reported in the evidence
    assert bundle["gate"] == "green" and bundle["gate_failures"] == []
    assert warnings(bundle["control_results"]) == []
    row = next(line for line in result.stdout.splitlines() if "parity-gap" in line)
    assert "FAIL" not in row and "MONITORED: outside the threshold" in row
    assert "gate: GREEN" in result.stdout and "— failing" not in result.stdout
    # the Dagster front: the control's check reports the value and passes; it never blocks
    import dagster as dg

    from sei_assets.defs.keys import system_key
    from sei_assets.defs.launch import local_instance, system_for_repo

    with local_instance() as instance:
        storage = instance.event_log_storage
        name = system_for_repo(repo).name  # unregistered: a system of its own
        key = dg.AssetCheckKey(system_key(name, "gate"), "parity_gap")
        (check,) = storage.get_asset_check_execution_history(key, limit=5)
        blocking = dg.AssetCheckKey(system_key(name, "gate"), "signature_valid")
        (signature,) = storage.get_asset_check_execution_history(blocking, limit=5)
    assert check.status.value == "SUCCEEDED" and signature.status.value == "SUCCEEDED"
    evaluation = check.event.dagster_event.event_specific_data
    assert evaluation.passed is True and evaluation.metadata["threshold_met"].value is False


def test_a_monitor_control_check_is_not_blocking() -> None:
    from sei_assets.core.manifest import Manifest
    from sei_assets.core.registry import SystemEntry
    from sei_assets.defs.system import control_checks

    doc = manifest("checks")
    doc["risk"]["risks"][0]["treat"][0]["measures"][0]["enforcement"] = "monitor"
    controls = compile_controls(Manifest.model_validate(doc))
    checks = control_checks(SystemEntry("checks", Path("/nonexistent")), controls)
    specs = {s.name: s for s in checks.check_specs}
    assert specs["parity_gap"].blocking is False and specs["signature_valid"].blocking is True


# --------------------------------------------------------------------------- life cycle


@pytest.mark.parametrize("stage", sorted(PLAN_PHASES))
def test_every_lifecycle_stage_maps_onto_a_plan_phase(tmp_path: Path, stage: str) -> None:
    loaded = load_manifest(_write(tmp_path, _with_measure(lifecycle=[stage])))
    measure = loaded.manifest.measures[0][1]
    phase = PLAN_PHASES[stage]
    assert measure.phases == [phase]
    assert phase in ("training", "validation", "monitoring", "incident")
    compiled = [c.control_id for c in compile_controls(loaded.manifest)]
    assert ("parity-gap" in compiled) is (phase not in POST_MARKET)
    listed = [m["id"] for m in post_market_measures(loaded.manifest)]
    assert ("parity-gap" in listed) is (phase in POST_MARKET)


def test_lifecycle_stages_follow_the_standards() -> None:
    assert PLAN_PHASES["data_preparation"] == "training"  # the reference's mapping
    assert PLAN_PHASES["production"] == "monitoring"  # the reference's post-market word
    assert PLAN_PHASES["deployment"] == "validation"  # Art. 9(8): tested before service
    assert PLAN_PHASES["operation_and_monitoring"] == "monitoring"  # Art. 72
    assert PLAN_PHASES["serious_incident"] == "incident"  # Art. 73


def test_unknown_lifecycle_stage_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    e, path = _refused(tmp_path, _with_measure(lifecycle=["training", "valdation"]))
    assert e.key_path == f"{MEASURE}[0].lifecycle[1]" and e.suggestion == "validation"
    assert e.line == _line_of(path, "- valdation")
    assert "'data_preparation'" in e.expected and "'production'" in e.expected
    e, _ = _refused(tmp_path, _with_measure(lifecycle=[]))
    assert e.key_path == f"{MEASURE}[0].lifecycle"


def test_a_control_in_several_phases_repeats_lifecycle_phase(tmp_path: Path) -> None:
    loaded = load_manifest(_write(tmp_path, _with_measure(lifecycle=["training", "validation"])))
    path, _ = write_plan(loaded)
    plan = yaml.safe_load(path.read_text().split("---\n", 1)[1])
    req = plan["component-definition"]["components"][0]["control-implementations"][0][
        "implemented-requirements"
    ][0]
    phases = [p["value"] for p in req["props"] if p["name"] == "lifecycle_phase"]
    assert phases == ["training", "validation"]
    (control, *_rest) = compile_controls(loaded.manifest)
    assert control.phases == ("training", "validation")
    result = evaluate_controls([control], {"parity-gap": 0.01})[0].to_json()
    assert result["lifecycle_phase"] == "training"
    assert result["lifecycle_phases"] == ["training", "validation"]


def test_a_control_also_monitored_post_market_is_compiled_and_listed(tmp_path: Path) -> None:
    loaded = load_manifest(_write(tmp_path, _with_measure(lifecycle=["validation", "production"])))
    (control, *_rest) = compile_controls(loaded.manifest)
    assert control.control_id == "parity-gap"
    assert control.phases == ("validation", "monitoring")
    assert [m["id"] for m in post_market_measures(loaded.manifest)] == ["parity-gap"]


# --------------------------------------------------------------------------- post-market plan

PLAN = {
    "trigger": "selection-rate drift alert from the serving proxy",
    "frequency": "P1M",
    "metric_threshold": "> 0.08",
    "art72_citation": "eu/ai-act@2024#art-72",
}


@pytest.mark.parametrize("form", ["flat", "nested"])
def test_post_market_plan_is_carried_into_the_evidence(tmp_path: Path, form: str) -> None:
    extra = {"lifecycle": ["monitoring"]}
    extra |= PLAN if form == "flat" else {"post_market": PLAN}
    loaded = load_manifest(_write(tmp_path, _with_measure(**extra)))
    (entry,) = post_market_measures(loaded.manifest)
    assert entry == {
        "id": "parity-gap",
        "metric": "demographic_parity_diff",
        "article": "15",
        "standard_clauses": [],
        **PLAN,
    }
    assert loaded.manifest.measures[0][1].plan.complete


def test_post_market_plan_is_validated_with_its_line(tmp_path: Path) -> None:
    e, path = _refused(tmp_path, _with_measure(**{**PLAN, "frequency": "every month"}))
    assert e.key_path == f"{MEASURE}[0].frequency"
    assert e.line == _line_of(path, "frequency: every month")
    assert "ISO 8601 duration" in e.expected
    e, _ = _refused(tmp_path, _with_measure(post_market={**PLAN, "frequency": "P1.5Y2M"}))
    assert e.key_path == f"{MEASURE}[0].post_market.frequency"
    e, _ = _refused(tmp_path, _with_measure(metric_threshold="about 0.1"))
    assert e.key_path == f"{MEASURE}[0].metric_threshold"
    e, _ = _refused(tmp_path, _with_measure(trigger="drift", post_market={"frequency": "P1M"}))
    assert "declared twice" in e.expected
    e, path = _refused(tmp_path, _with_measure(post_market={**PLAN, "trigerr": "x"}))
    assert e.key_path == f"{MEASURE}[0].post_market.trigerr" and e.suggestion == "trigger"


@pytest.mark.parametrize("text", ["P6M", "P1Y", "P2W", "PT12H", "P1DT12H", "P0.5D", "PT1.5S"])
def test_iso_durations_accepted(text: str) -> None:
    assert iso_duration(text) == text


@pytest.mark.parametrize(
    "text", ["6 months", "P", "PT", "P1DT", "P1.5Y2M", "P0D", "PT0S", "-P1D", "p1m", "P1W2D", 6]
)
def test_iso_durations_refused(text: Any) -> None:
    with pytest.raises(ValueError, match="ISO 8601 duration"):
        iso_duration(text)


def _art72(tmp_path: Path, doc: dict[str, Any]) -> str:
    loaded = load_manifest(_write(tmp_path, doc))
    doc = conformance.project(loaded, {"system_name": "schema"}, "eu/ai-act@2024")
    return next(c for c in doc["payload"]["clauses"] if c["clause_id"] == "art-72")["decision"]


def test_art72_clause_reads_the_post_market_plan(tmp_path: Path) -> None:
    base = {"lifecycle": ["monitoring"], "article": "14"}
    assert _art72(tmp_path, _with_measure(**base, **PLAN)) == "covered"
    assert _art72(tmp_path, _with_measure(**base, post_market=PLAN)) == "covered"
    partial = {k: v for k, v in PLAN.items() if k != "art72_citation"}
    assert _art72(tmp_path, _with_measure(**base, **partial)) == "partial"
    assert _art72(tmp_path, _with_measure(**base)) == "partial"


# --------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    "where,key,meant",
    [
        ("measure", "enforcment", "enforcement"),
        ("measure", "lifecyle", "lifecycle"),
        ("measure", "Severity", "severity"),
        ("measure", "standard_clause", "standard_clauses"),
        ("measure", "frequncy", "frequency"),
        ("risk", "likelihod", "likelihood"),
        ("top", "clasification", "classification"),
        ("top", "risks", "risk"),
    ],
)
def test_a_near_miss_key_is_an_error_with_did_you_mean(
    tmp_path: Path, where: str, key: str, meant: str
) -> None:
    doc = manifest("schema")
    target = {
        "measure": doc["risk"]["risks"][0]["treat"][0]["measures"][0],
        "risk": doc["risk"]["risks"][0],
        "top": doc,
    }[where]
    target[key] = target.pop(meant, "x")
    e, path = _refused(tmp_path, doc)
    assert e.suggestion == meant and e.key_path.endswith(key)
    assert e.line == _line_of(path, f"{key}:")
    assert f"did you mean '{meant}'" in str(e) and str(path) in str(e)


def test_near_miss_rule() -> None:
    assert near_miss("systme", ["system", "task"]) == "system"
    assert near_miss("owner", ["id", "metric", "severity"]) is None
    assert near_miss("tag", ["task"]) is None  # two edits on a short key: not a misspelling
    assert near_miss("x-notes", ["notes"]) is None


def test_an_unknown_key_is_a_warning_kept_in_the_evidence_and_no_verdict_moves(
    tmp_path: Path, sei: Any
) -> None:
    plain = make_system(tmp_path / "plain", "ext", bias=1.0)
    extended = make_system(tmp_path / "extended", "ext", bias=1.0)
    doc = yaml.safe_load((extended / "sei.yaml").read_text())
    doc["risk"]["risks"][0]["treat"][0]["measures"][0]["owner"] = "fairness-team"
    doc["risk"]["risks"][0]["x_ticket"] = {"tracker": "JIRA", "id": 42}
    doc["x-notes"] = "kept as written"
    (extended / "sei.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    manifest_path = extended / "sei.yaml"

    compiled = sei("compile", "--repo", str(extended))
    assert compiled.exit_code == 0, compiled.output
    line = _line_of(manifest_path, "owner: fairness-team")
    assert (
        f"warning: {manifest_path}:{line}: {MEASURE}[0].owner: unknown key 'owner'"
        in compiled.stderr
    )
    assert f"{manifest_path}:{_line_of(manifest_path, 'x-notes:')}: x-notes" in compiled.stderr
    assert "risk.risks[0].x_ticket" in compiled.stderr
    assert (extended / "assessment_plan.oscal.yaml").read_text().split("---", 1)[1] == (
        _compiled(sei, plain).split("---", 1)[1]
    )

    results = {}
    for repo in (plain, extended):
        run = sei("run", "--repo", str(repo))
        assert run.exit_code == 1, run.output  # the gate is red for both: bias 1.0
        results[repo] = json.loads((repo / ".sei" / "bundle.json").read_text())
    ours, base = results[extended], results[plain]
    for key in ("control_results", "gate", "gate_failures", "risk_analysis", "overall_residual"):
        assert ours[key] == base[key], key
    assert "manifest_extensions" not in base
    assert ours["manifest_extensions"] == [
        {
            "key": f"{MEASURE}[0].owner",
            "measure": "parity-gap",
            "value": "fairness-team",
            "line": line,
        },
        {
            "key": "risk.risks[0].x_ticket",
            "risk": "risk.unfair",
            "value": {"tracker": "JIRA", "id": 42},
            "line": _line_of(manifest_path, "x_ticket:"),
        },
        {"key": "x-notes", "value": "kept as written", "line": _line_of(manifest_path, "x-notes")},
    ]
    assert sei("verify", "--repo", str(extended)).exit_code == 0


def _compiled(sei: Any, repo: Path) -> str:
    assert sei("compile", "--repo", str(repo)).exit_code == 0
    return (repo / "assessment_plan.oscal.yaml").read_text()


def test_unknown_keys_inside_free_mappings_are_not_extensions(tmp_path: Path) -> None:
    """`criteria`, `applicability`, `artifacts.model`, `context.dora` are open mappings."""
    doc = copy.deepcopy(manifest("schema"))
    doc["risk"]["criteria"] = {"scale": "5x5", "anything": 1}
    doc["artifacts"] = {"model": {"kind": "logreg", "whatever": True}}
    loaded = load_manifest(_write(tmp_path, doc))
    assert loaded.extensions == []


def test_a_misuse_naming_a_risk_not_declared_yet_is_a_warning(tmp_path: Path) -> None:
    """As in the reference's quickstart before its risks are written: the misuse is declared,
    it counts as unaddressed, and a near miss of a declared risk id stays an error."""
    doc = manifest("schema")
    doc["system"]["potential_misuses"] = [
        {"id": "mu.later", "description": "x", "addressed_by": ["risk.declared-later"]}
    ]
    path = _write(tmp_path, doc)
    loaded = load_manifest(path)
    line = _line_of(path, "- risk.declared-later")
    assert loaded.warnings() == [
        f"{path}:{line}: system.potential_misuses[0].addressed_by[0]: names risk "
        "'risk.declared-later', which no risk declares (yet): misuse 'mu.later' counts as not "
        "addressed by it"
    ]
    act = conformance.project(loaded, {"system_name": "schema"}, "iso/23894@2023")
    assert act["payload"]["clauses"]  # the projection runs on it
    doc["system"]["potential_misuses"][0]["addressed_by"] = ["risk.unfiar"]
    e, _ = _refused(tmp_path, doc)
    assert e.suggestion == "risk.unfair"


def test_the_readme_lists_every_manifest_key() -> None:
    """The schema tables of the README name every key of every section of the model."""
    from pydantic import BaseModel

    from sei_assets.core import manifest as model

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## The manifest") : readme.index("## The command line")]
    todo: list[type[BaseModel]] = [model.Manifest]
    seen: set[type[BaseModel]] = set()
    missing = []
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if f"`{key}`" not in section and f"`{key}[]`" not in section:
                missing.append(f"{cls.__name__}.{key}")
            inner = model._inner_model(field.annotation)
            if inner is not None:
                todo.append(inner)
    assert not missing
    for stage in PLAN_PHASES:
        assert f"`{stage}`" in section, stage


def test_a_review_interval_may_be_zero_a_frequency_may_not(tmp_path: Path) -> None:
    assert iso_duration("PT0S", positive=False) == "PT0S"
    loaded = load_manifest(_write(tmp_path, manifest("schema", review_interval="PT0S")))
    assert loaded.manifest.risk.review_interval == "PT0S"
    e, _ = _refused(tmp_path, _with_measure(frequency="P0D"))
    assert e.key_path == f"{MEASURE}[0].frequency" and "positive length" in e.expected
