"""Bundle oracle: at every commit of the three reference histories that carries a bundle, `sei run
--no-repro` on that commit's manifest and metrics reaches the reference's bundle, field by field.

Commit ids differ from the originals (the replay leaves out code files), so ids are compared
through the replay's mapping, on both sides: a bundle names the commits its evidence recorded.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.reference import blob, commits, replay

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

HISTORIES = ("loan-scoring", "quickstart", "talent-screening")
EVIDENCE_DIRS = (".venth", ".froga")
# Every commit of the reference histories that carries a bundle, with its evidence directory.
RUNS = [
    (name, c["index"], d)
    for name in HISTORIES
    for c in commits(name)
    for d in EVIDENCE_DIRS
    if f"{d}/bundle.json" in c["files"]
]
FIELDS = [
    "control_results",
    "risk_analysis",
    "overall_residual",
    "treatment_events",
    "means_of_conformance",
    "post_market_measures",
    "data_governance",
    "pipeline_lock_digest",
    "classification",
    "risks",
    "foreseeable_misuse",
    "applicable_standards",
    "review_interval",
    "roles",
]


def _mapped(text: str, mapping: dict[str, str]) -> dict:
    for old, new in mapping.items():
        text = text.replace(old, new)
    return json.loads(text)


def test_every_bundle_commit_is_listed() -> None:
    assert [(n, i) for n, i, _d in RUNS if n == "talent-screening"] == [
        ("talent-screening", i) for i in (1, 2, 3, 4, 5)
    ]
    assert len(RUNS) == 7 + 3 + 5


@pytest.mark.parametrize("name,index,evidence", RUNS)
def test_bundle_matches_reference_field_by_field(
    tmp_path: Path, sei, name: str, index: int, evidence: str
) -> None:
    mapping = replay(name, tmp_path, upto=index)
    reference = _mapped((tmp_path / evidence / "bundle.json").read_text(), mapping)
    result = sei("run", "--repo", str(tmp_path), "--no-repro")
    blocked = any(
        r["enforcement_mode"] == "block" and not r["passed"] for r in reference["control_results"]
    )
    assert result.exit_code == (1 if blocked else 0), result.output
    ours = _mapped((tmp_path / ".sei" / "bundle.json").read_text(), mapping)
    assert ours["gate"] == ("red" if blocked else "green")
    for key in FIELDS:
        mine = ours.get(key)
        if key == "control_results":  # our one addition to a control result
            mine = [{k: v for k, v in r.items() if k != "underpowered"} for r in mine]
        assert mine == reference.get(key), key
    assert ours["triple"]["model"] == reference["triple"]["model"]


def test_treatment_event_names_the_treatment_and_the_earlier_evidence(tmp_path: Path, sei) -> None:
    """Talent-screening V2: the leakage control failed in the V1 evidence, committed before the
    treatment commit (mitigate false -> true), and passes now; the V2 evidence that is already
    committed is not the comparison (it was made with the treatment in force)."""
    mapping = replay("talent-screening", tmp_path, upto=4)
    treatment = next(c for c in commits("talent-screening") if c["message"].startswith("treat"))
    declare = commits("talent-screening")[0]
    sei("run", "--repo", str(tmp_path), "--no-repro")
    ours = json.loads((tmp_path / ".sei" / "bundle.json").read_text())
    (event,) = ours["treatment_events"]
    assert event == {
        "control_id": "model-feature-leakage",
        "risk_id": "risk.feature-leakage",
        "kind": "Treatment",
        "previous_value": 1.0,
        "current_value": 0.0,
        "anchored_commit": mapping[treatment["sha"]],
        # as the V1 evidence recorded it (made at the declaration, before this replay's ids)
        "previous_commit": declare["sha"],
    }
    out = sei("run", "--repo", str(tmp_path), "--no-repro").output
    assert f"model-feature-leakage FAIL → PASS (treatment {event['anchored_commit'][:12]})" in out


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, check=True)


def test_history_read_from_legacy_evidence_dir(tmp_path: Path, sei) -> None:
    """A control failing in the reference's .venth evidence committed before the treatment, and
    passing now, is a treatment event anchored to the treatment commit."""
    replay("loan-scoring", tmp_path, upto=1)
    bundle_path = tmp_path / ".venth" / "bundle.json"
    doc = json.loads(bundle_path.read_text())
    doc["control_results"][0]["passed"] = False
    doc["control_results"][0]["actual_value"] = 0.2
    bundle_path.write_text(json.dumps(doc))
    _git(tmp_path, "commit", "-qam", "older evidence: red")
    (tmp_path / "params.yaml").write_bytes(blob("loan-scoring", 2, "params.yaml"))
    treatment = next(c for c in commits("loan-scoring") if c["message"].startswith("treatment"))
    _git(tmp_path, "commit", "-qam", treatment["message"])
    treated = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.strip()
    for path in ("metrics.json", "dvc.lock"):  # V2's measurement, not yet committed
        (tmp_path / path).write_bytes(blob("loan-scoring", 3, path))
    sei("run", "--repo", str(tmp_path), "--no-repro")
    ours = json.loads((tmp_path / ".sei" / "bundle.json").read_text())
    (event,) = ours["treatment_events"]
    (now,) = ours["control_results"]
    assert (event["control_id"], event["kind"]) == ("unfair-credit-exclusion", "Treatment")
    assert (event["previous_value"], event["current_value"]) == (0.2, now["actual_value"])
    assert event["anchored_commit"] == treated
    assert event["previous_commit"] == doc["triple"]["code"]


def test_uncommitted_treatment_is_not_anchored(tmp_path: Path, sei) -> None:
    """Our own evidence carries its lock: a run after an uncommitted treatment is compared with
    the evidence made before it, and the event names no treatment commit yet."""
    replay("talent-screening", tmp_path, upto=1)
    sei("run", "--repo", str(tmp_path), "--no-repro")  # V1: the leakage control fails
    (tmp_path / "params.yaml").write_bytes(blob("talent-screening", 2, "params.yaml"))
    (tmp_path / "metrics.json").write_bytes(blob("talent-screening", 3, "metrics.json"))
    sei("run", "--repo", str(tmp_path), "--no-repro")
    ours = json.loads((tmp_path / ".sei" / "bundle.json").read_text())
    (event,) = ours["treatment_events"]
    assert event["control_id"] == "model-feature-leakage" and event["anchored_commit"] is None
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert event["previous_commit"] == head  # our V1, made at HEAD, still in the working tree
    # Again with the same inputs: our V1 has been replaced by V2 (its lock records the treatment
    # in force, so it is no comparison), and the reference's V1, committed, is the one before.
    sei("run", "--repo", str(tmp_path), "--no-repro")
    (again,) = json.loads((tmp_path / ".sei" / "bundle.json").read_text())["treatment_events"]
    assert {**again, "previous_commit": None} == {**event, "previous_commit": None}
    assert again["previous_commit"] == commits("talent-screening")[0]["sha"]
