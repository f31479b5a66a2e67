"""The risk rules of core/risk.py held against every distinct reference bundle we hold: from that
commit's manifest and metrics, the cycle, the priority and the overall residual of each risk are
the reference's. Quick: no pipeline, no git, only the core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core.controls import compile_controls, evaluate_controls
from sei_assets.core.manifest import load_manifest
from sei_assets.core.reproducers.base import read_metrics
from sei_assets.core.risk import analyse, cycle_status, overall_residual
from tests.reference import REFERENCE, commits

HISTORIES = ("loan-scoring", "quickstart", "talent-screening")
MANIFESTS = ("sei.yaml", "venth.yaml", "froga.yaml")


def _distinct_bundles() -> list[tuple[str, int, str]]:
    seen: set[str] = set()
    out = []
    for name in HISTORIES:
        for c in commits(name):
            for d in (".sei", ".venth", ".froga"):
                blob = c["files"].get(f"{d}/bundle.json")
                if blob and blob not in seen:
                    seen.add(blob)
                    out.append((name, c["index"], d))
    return out


BUNDLES = _distinct_bundles()


def _materialise(name: str, index: int, dest: Path) -> None:
    for rel, blob in commits(name)[index]["files"].items():
        if rel.endswith((".yaml", ".json")):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REFERENCE / name / "blobs" / blob).read_bytes())


def analysed(name: str, index: int, dest: Path) -> tuple[list, dict]:
    """Our risk analysis and overall residual from the commit's manifest and metrics."""
    _materialise(name, index, dest)
    manifest = next(dest / m for m in MANIFESTS if (dest / m).is_file())
    m = load_manifest(manifest).manifest
    results = evaluate_controls(compile_controls(m), read_metrics(dest / "metrics.json", "test"))
    analysis = analyse(m.risk, results)
    return analysis, overall_residual(m.risk, analysis)


def test_every_distinct_bundle_is_held() -> None:
    assert len(BUNDLES) == 5  # loan V1 and V2, quickstart, talent V1 and V2


@pytest.mark.parametrize("name,index,evidence", BUNDLES)
def test_rules_reach_the_reference(tmp_path: Path, name: str, index: int, evidence: str) -> None:
    reference = json.loads(
        (
            REFERENCE / name / "blobs" / commits(name)[index]["files"][f"{evidence}/bundle.json"]
        ).read_text()
    )
    analysis, overall = analysed(name, index, tmp_path)
    fields = ("priority", "cycle", "requires_treatment", "control_confirmed")
    ours = {e["risk_id"]: {k: e[k] for k in fields} for e in analysis}
    theirs = {e["risk_id"]: {k: e[k] for k in fields} for e in reference["risk_analysis"]}
    assert ours == theirs
    assert overall == reference["overall_residual"]


class _Control:
    def __init__(self, cid: str, blocking: bool) -> None:
        self.control_id, self.blocking = cid, blocking


class _Result:
    def __init__(self, cid: str, blocking: bool, passed: bool) -> None:
        self.control, self.passed = _Control(cid, blocking), passed


@pytest.mark.parametrize(
    "results,accepted,status",
    [
        ([], set(), "monitored"),
        ([("a", False, True)], set(), "monitored"),  # a passing warning confirms nothing
        ([("a", False, True), ("b", False, False)], set(), "monitored"),
        ([("a", True, True), ("b", False, False)], set(), "closed"),
        ([("a", True, True), ("b", True, False)], set(), "open"),
        ([("a", True, False)], {"a"}, "closed"),  # residual accepted by management
        ([("a", True, False), ("b", True, False)], {"a"}, "open"),
        ([("a", False, False)], {"a"}, "monitored"),
    ],
)
def test_cycle_status(results, accepted, status: str) -> None:
    given = [_Result(*r) for r in results]
    assert cycle_status(given, frozenset(accepted)) == status


def test_accepted_controls_come_from_the_current_approval(tmp_path: Path) -> None:
    """Sei-Residual-Accepted of the current decision names the failing blocking controls whose
    residual management accepted; a later request withdraws it; a review leaves it."""
    import subprocess

    from sei_assets.core.governance import accepted_controls

    def commit(message: str) -> None:
        subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message],
            cwd=tmp_path,
            check=True,
        )

    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    commit("declare")
    assert accepted_controls(tmp_path) == frozenset()
    commit(
        "approve\n\nSei-Approved-by: Q <q@example.test>\n"
        "Sei-Residual-Accepted: red gate: data-sample-adequacy, model-feature-leakage"
    )
    accepted = {"data-sample-adequacy", "model-feature-leakage"}
    assert accepted_controls(tmp_path) == accepted
    commit("review\n\nSei-Reviewed-by: Q <q@example.test>")
    assert accepted_controls(tmp_path) == accepted
    commit("request again\n\nSei-Approval-Requested-by: D <d@example.test>")
    assert accepted_controls(tmp_path) == frozenset()
    commit(
        "approve green\n\nSei-Approved-by: Q <q@example.test>\n"
        "Sei-Residual-Accepted: overall residual HIGH (criterion HIGH)"
    )
    assert accepted_controls(tmp_path) == frozenset()
