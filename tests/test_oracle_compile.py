"""Oracle: at every commit of the three reference histories that carries a compiled plan, our
plan is the reference's, and the reference SDK (a real client of the plan) would read the same
controls from both.

`sdk_controls` reads a plan the way the SDK's OSCAL loader does (venturalitica 0.8.2,
`loader.py`): every implemented requirement of every component's control implementations is a
control with its `control-id`, `metric_key` (or `metric`), `threshold` as a float (0.0 when
absent), `operator` (``==`` when absent), `severity` (``low`` when absent), its `input.<slot>`
bindings, and profile metadata where a repeated `lifecycle_phase` becomes a list. It is written
here from that description; the SDK is not a dependency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sei_assets.core.manifest import MANIFEST_NAMES, load_manifest
from sei_assets.core.oscal import read_plan, render_plan
from tests.reference import REFERENCE, blob, commits, replay

HISTORIES = ("loan-scoring", "quickstart", "talent-screening")
PROFILE = {
    "lifecycle_phase",
    "enforcement_mode",
    "evaluation_method",
    "evaluation_window",
    "target_type",
    "risk_id",
    "treatment_id",
    "policy_id",
    "objective_id",
    "risk_acceptance_criteria",
    "threshold_justification",
    "stakeholder_consultation_ref",
}


def _plans() -> list[tuple[str, int, str, str]]:
    """(history, commit index, manifest, plan) for every commit that carries a plan."""
    out = []
    for name in HISTORIES:
        for c in commits(name):
            plans = [f for f in c["files"] if f.endswith("assessment_plan.oscal.yaml")]
            manifest = next((m for m in MANIFEST_NAMES if m in c["files"]), None)
            if plans and manifest:
                out.append((name, c["index"], manifest, plans[0]))
    return out


PLANS = _plans()


def sdk_controls(text: str) -> list[dict[str, Any]]:
    """The controls the reference SDK's loader extracts from a component-definition plan."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    root = docs[0]["component-definition"]
    controls = []
    for component in root.get("components") or []:
        for impl in component.get("control-implementations") or []:
            for req in impl.get("implemented-requirements") or []:
                direct: dict[str, Any] = {}
                metadata: dict[str, Any] = {}
                inputs: dict[str, str] = {}
                severity = "low"
                for prop in req.get("props") or []:
                    name, value = prop.get("name"), prop.get("value")
                    if name == "severity":
                        severity = value
                    elif name in ("metric_key", "metric", "threshold", "operator"):
                        direct["metric_key" if name == "metric" else name] = value
                    elif name.startswith("input."):
                        inputs[name[len("input.") :]] = value
                    elif name in PROFILE:
                        if name == "lifecycle_phase" and name in metadata:
                            seen = metadata[name]
                            metadata[name] = (
                                [*seen, value]
                                if isinstance(seen, list)
                                else [
                                    seen,
                                    value,
                                ]
                            )
                        else:
                            metadata[name] = value
                if "metric_key" not in direct:
                    continue  # the loader hunts inventory links then; our plans carry none
                controls.append(
                    {
                        "id": req.get("control-id") or req.get("uuid"),
                        "metric_key": direct["metric_key"],
                        "threshold": float(direct.get("threshold", 0.0)),
                        "operator": direct.get("operator", "=="),
                        "severity": severity,
                        "input_mapping": inputs,
                        "metadata": metadata,
                    }
                )
    return controls


def test_every_reference_commit_with_a_plan_is_covered() -> None:
    covered = {(n, i) for n, i, _m, _p in PLANS}
    assert {n for n, _i in covered} == set(HISTORIES)
    assert len(covered) == 16  # loan 1-7, quickstart 7-10, talent-screening 1-5


@pytest.mark.parametrize("name,index,manifest,plan", PLANS)
def test_compiled_plan_matches_the_reference_at_every_commit(
    tmp_path: Path, name: str, index: int, manifest: str, plan: str
) -> None:
    path = tmp_path / manifest
    path.write_bytes(blob(name, index, manifest))
    reference_text = blob(name, index, plan).decode("utf-8")
    ours_text = render_plan(load_manifest(path))
    sdk_ours, sdk_reference = sdk_controls(ours_text), sdk_controls(reference_text)
    assert sdk_ours, "the plan has no control the SDK would read"
    assert sdk_ours == sdk_reference  # ids, metric keys, operators, thresholds, phases, modes
    for control in sdk_ours:
        assert control["operator"] in ("lt", "lte", "gt", "gte", "eq", "ne")
        assert control["metadata"]["enforcement_mode"] in ("block", "warn", "monitor")
        phases = control["metadata"]["lifecycle_phase"]
        for phase in phases if isinstance(phases, list) else [phases]:
            assert phase in ("training", "validation", "monitoring", "incident")
    ours_file, reference_file = tmp_path / "ours.yaml", tmp_path / "reference.yaml"
    ours_file.write_text(ours_text)
    reference_file.write_text(reference_text)
    assert read_plan(ours_file) == read_plan(reference_file)  # every prop, every description


@pytest.mark.parametrize("name", HISTORIES)
def test_sei_compile_writes_the_reference_plan(tmp_path: Path, sei: Any, name: str) -> None:
    """Through the command (a Dagster run), at the last commit with a plan of each history."""
    _name, index, _manifest, plan = [p for p in PLANS if p[0] == name][-1]
    replay(name, tmp_path, upto=index)
    reference = sdk_controls((tmp_path / plan).read_text())
    (tmp_path / plan).unlink()
    result = sei("compile", "--repo", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sdk_controls((tmp_path / plan).read_text()) == reference


def _every_manifest() -> list[tuple[str, Path | tuple[str, int, str]]]:
    root = Path(__file__).resolve().parent.parent
    found: list[tuple[str, Path | tuple[str, int, str]]] = []
    for folder in ("resources", "tests/fixtures", "scenarios"):
        for path in sorted((root / folder).rglob("*.yaml")):
            if REFERENCE in path.parents:
                continue
            head = path.read_text(encoding="utf-8", errors="replace")[:2000]
            if "kind: AISystem" in head or path.name in MANIFEST_NAMES:
                found.append((path.relative_to(root).as_posix(), path))
    for name in HISTORIES:
        for c in commits(name):
            for manifest in MANIFEST_NAMES:
                if manifest in c["files"]:
                    found.append((f"{name}@{c['index']}/{manifest}", (name, c["index"], manifest)))
    return found


MANIFESTS = _every_manifest()


def test_the_walk_finds_the_manifests() -> None:
    ids = [i for i, _ in MANIFESTS]
    assert "resources/loan/sei.yaml" in ids
    assert "talent-screening@0/froga.yaml" in ids and "quickstart@1/froga.yaml" in ids


@pytest.mark.parametrize("where", [m for m in MANIFESTS], ids=[i for i, _ in MANIFESTS])
def test_every_manifest_compiles(tmp_path: Path, where: tuple[str, Any]) -> None:
    _id, source = where
    if isinstance(source, Path):
        loaded = load_manifest(source)
    else:
        name, index, manifest = source
        path = tmp_path / manifest
        path.write_bytes(blob(name, index, manifest))
        loaded = load_manifest(path)
    text = render_plan(loaded)
    assert text.startswith("# Generated by `sei compile`")
    assert len(sdk_controls(text)) == len(
        [m for _r, m in loaded.manifest.measures if not m.is_monitoring]
    )
    assert loaded.extensions == []  # every key of the shipped manifests is in the schema
