"""`reconstruct`: the reference's own reconstruct.json as oracle, and a synthetic treatment arc."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sei_assets.core import engine, governance, signing
from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import dump
from sei_assets.core.reconstruct import reconstruct, write_reconstruct
from tests.reference import blob, commits, replay

# (repository, commit index, evidence folder): where the reference committed a reconstruct.json
# that it had just computed. Quickstart 10 (the approval request) carries commit 9's file
# unchanged, and loan-scoring 5 (also a request) carries commit 4's: see test_stale_reference_*.
ORACLE = [
    ("loan-scoring", 4, ".venth"),
    ("loan-scoring", 7, ".venth"),
    ("quickstart", 9, ".froga"),
    ("talent-screening", 4, ".froga"),
]
# Our one addition, per history: the controls that failed in one snapshot and pass in the next
# (loan-scoring's and quickstart's V1 already passed; talent-screening's leakage control was
# treated by commit 2).
ARCS = {"loan-scoring": [], "quickstart": [], "talent-screening": ["model-feature-leakage"]}
PAYLOAD_FIELDS = ["system_name", "snapshots", "risks", "approval", "lifecycle"]


def _mapped(name: str, index: int, evidence: str, mapping: dict[str, str]) -> dict:
    """The reference's reconstruct.json at ``index`` with original commit ids replaced."""
    text = blob(name, index, f"{evidence}/reconstruct.json").decode("utf-8")
    for old, new in mapping.items():
        text = text.replace(old, new)
    return json.loads(text)


def _mapped_bundle(name: str, index: int, evidence: str, mapping: dict[str, str]) -> dict:
    text = blob(name, index, f"{evidence}/bundle.json").decode("utf-8")
    for old, new in mapping.items():
        text = text.replace(old, new)
    return json.loads(text)


@pytest.mark.parametrize("name,index,evidence", ORACLE)
def test_reconstruct_matches_reference(tmp_path: Path, name: str, index: int, evidence: str):
    mapping = replay(name, tmp_path, upto=index)
    reference = _mapped(name, index, evidence, mapping)
    ours = reconstruct(tmp_path)
    for key in ("schema_version", "kind", "system"):
        assert ours[key] == reference[key], key
    for key in PAYLOAD_FIELDS:
        assert ours["payload"][key] == reference["payload"][key], key
    assert set(ours["payload"]) - set(reference["payload"]) == {"treatment_arcs"}
    arcs = ours["payload"]["treatment_arcs"]
    assert [a["control_id"] for a in arcs] == ARCS[name]
    treatment = next((c for c in commits(name) if c["message"].startswith("treatment")), None)
    for arc in arcs:  # anchored to the treatment commit, as the reference's bundle event is
        assert arc["treatment"]["sha"] == mapping[treatment["sha"]]
        bundle = _mapped_bundle(name, index, evidence, mapping)
        (event,) = [e for e in bundle["treatment_events"] if e["control_id"] == arc["control_id"]]
        assert event["anchored_commit"] == arc["treatment"]["sha"]
    # Byte for byte too, but for our field and the newline that ends every file we write.
    del ours["payload"]["treatment_arcs"]
    text = blob(name, index, f"{evidence}/reconstruct.json").decode("utf-8")
    for old, new in mapping.items():
        text = text.replace(old, new)
    assert dump(ours) == (text + "\n").encode()


def test_reference_loan_approval_lifecycle(tmp_path: Path) -> None:
    mapping = replay("loan-scoring", tmp_path, upto=6)
    approval_sha = mapping[commits("loan-scoring")[6]["sha"]]
    expected = {
        "state": "approved",
        "by": "Quality Demo <quality@example-loan-corp.demo>",
        "sha": approval_sha,
        "date": "2025-11-12T07:59:08Z",
        "stale": False,
    }
    assert governance.lifecycle(tmp_path) == expected
    assert [d["kind"] for d in governance.decisions(tmp_path)] == ["request", "approve"]


@pytest.mark.parametrize(
    "name,index,carried",
    [("loan-scoring", 5, 4), ("quickstart", 10, 9), ("talent-screening", 5, 4)],
)
def test_stale_reference_file_after_request(
    tmp_path: Path, name: str, index: int, carried: int
) -> None:
    """At a request commit the reference did not re-emit reconstruct.json (it still says draft):
    ours agrees on everything else and reports the request."""
    evidence = ".venth" if name == "loan-scoring" else ".froga"
    assert blob(name, index, f"{evidence}/reconstruct.json") == blob(
        name, carried, f"{evidence}/reconstruct.json"
    )
    mapping = replay(name, tmp_path, upto=index)
    reference = _mapped(name, carried, evidence, mapping)
    ours = reconstruct(tmp_path)["payload"]
    for key in ("system_name", "snapshots", "risks", "approval"):
        assert ours[key] == reference["payload"][key], key
    assert reference["payload"]["lifecycle"] == {"state": "draft"}
    request = commits(name)[index]
    by = request["message"].strip().splitlines()[-1].split(":", 1)[1].strip()
    assert ours["lifecycle"] == {
        "state": "requested",
        "by": by,
        "sha": mapping[request["sha"]],
        "date": request["committer_date"].replace("+00:00", "Z"),
    }


# --------------------------------------------------------------------------- synthetic history

MANIFEST = """\
apiVersion: venturalitica.ai/v1alpha1
kind: AISystem
system:
  name: synthetic-scoring
  intended_purpose: "A small scoring model for the reconstruct tests."
  organization: Example Org
  potential_misuses:
    - id: mu.unreviewed
      description: "Deciding without review."
      addressed_by: [risk.unfair-outcome]
eval: {{ script: train.py }}
pipeline: {{ tool: dvc, metrics: metrics.json }}
risk:
  appetite: {{ individual: MEDIUM, society: MEDIUM, organization: HIGH }}
  overall_residual_criterion: HIGH
  risks:
    - id: risk.unfair-outcome
      title: "Unfair outcomes between groups"
      domain: fairness
      impact: {{ individual: HIGH, society: HIGH }}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          action: "Bound the demographic parity difference."
          residual_likelihood: UNLIKELY
          measures:
            - id: parity
              metric: demographic_parity_diff
              constraint: "{constraint}"
              severity: high
              enforcement: gate
            - id: accuracy-floor
              metric: accuracy_score
              constraint: "> 0.6"
              enforcement: audit
"""
DVC_YAML = """\
stages:
  evaluate:
    cmd: python train.py
    deps: [train.py]
    params: [seed]
    metrics:
      - metrics.json: {cache: false}
"""


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def measure(repo: Path, parity: float, accuracy: float = 0.75) -> None:
    """Stand-in for the pipeline: write its metrics and lock, then `sei run --no-repro`."""
    (repo / "metrics.json").write_text(
        json.dumps({"parity": parity, "accuracy-floor": accuracy}) + "\n"
    )
    (repo / "dvc.lock").write_text(f"schema: '2.0'\nstages: {{evaluate: {{parity: {parity}}}}}\n")
    engine.run(repo, repro=False)


def declare(repo: Path, constraint: str = "< 0.05") -> dict[str, str]:
    """A declared system and its V1 evidence (parity 0.12: red), committed."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "sei.yaml").write_text(MANIFEST.format(constraint=constraint))
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("seed: 42\n")
    (repo / "train.py").write_text("MITIGATE = False\n")
    shas = {"declare": commit_all(repo, "declare: synthetic-scoring")}
    measure(repo, 0.12)
    shas["v1"] = commit_all(repo, "run: V1 evidence (red)")
    return shas


def treated_history(repo: Path) -> dict[str, str]:
    """declare -> V1 red -> treatment (train.py) -> unrelated change -> V2 green."""
    shas = declare(repo)
    (repo / "train.py").write_text("MITIGATE = True  # demographic-parity post-processing\n")
    shas["treatment"] = commit_all(repo, "treatment: mitigate demographic parity")
    (repo / "NOTES.md").write_text("notes\n")
    shas["notes"] = commit_all(repo, "docs: notes")
    measure(repo, 0.02)
    shas["v2"] = commit_all(repo, "run: V2 evidence (green)")
    return shas


def test_synthetic_treatment_arc(tmp_path: Path) -> None:
    shas = treated_history(tmp_path)
    doc = reconstruct(tmp_path)
    payload = doc["payload"]
    assert doc["system"] == payload["system_name"] == "synthetic-scoring"
    assert [(s["sha"], s["subject"]) for s in payload["snapshots"]] == [
        (shas["v1"], "run: V1 evidence (red)"),
        (shas["v2"], "run: V2 evidence (green)"),
    ]
    assert all(s["date"].endswith("+00:00") for s in payload["snapshots"])
    (risk,) = payload["risks"]
    assert (risk["risk_id"], risk["identified_sha"]) == ("risk.unfair-outcome", shas["declare"])
    assert risk["identified_date"].endswith("Z") and risk["provenance"] == "declared"
    bundle = json.loads((tmp_path / ".sei" / "bundle.json").read_text())
    assert risk["assessment"] == bundle["risk_analysis"][0]
    assert risk["assessment"]["cycle"] == {"status": "closed"}
    (arc,) = payload["treatment_arcs"]
    assert arc["control_id"] == "parity" and arc["risk_id"] == "risk.unfair-outcome"
    assert (arc["failed"]["sha"], arc["failed"]["actual_value"]) == (shas["v1"], 0.12)
    assert (arc["passed"]["sha"], arc["passed"]["actual_value"]) == (shas["v2"], 0.02)
    assert arc["failing_since"]["sha"] == shas["v1"]
    assert arc["threshold_changed"] is False
    assert arc["treatment"]["sha"] == shas["treatment"]
    assert arc["treatment"]["subject"] == "treatment: mitigate demographic parity"
    # the engine's own treatment event in V2 names the same commit
    (event,) = bundle["treatment_events"]
    assert event["anchored_commit"] == shas["treatment"]
    assert payload["approval"] is None and payload["lifecycle"] == {"state": "draft"}


def test_arc_spans_a_failing_streak_and_flags_a_relaxed_threshold(tmp_path: Path) -> None:
    """FAIL, FAIL (a treatment that did not work), then PASS because the bound was relaxed."""
    shas = declare(tmp_path)
    (tmp_path / "train.py").write_text("MITIGATE = 'weak'\n")
    shas["attempt"] = commit_all(tmp_path, "treatment: first attempt")
    measure(tmp_path, 0.09)
    shas["v2"] = commit_all(tmp_path, "run: V2 evidence (still red)")
    (tmp_path / "sei.yaml").write_text(MANIFEST.format(constraint="< 0.1"))
    shas["relax"] = commit_all(tmp_path, "scope: relax the parity bound")
    measure(tmp_path, 0.09)
    shas["v3"] = commit_all(tmp_path, "run: V3 evidence (green)")
    (arc,) = reconstruct(tmp_path)["payload"]["treatment_arcs"]
    assert arc["failing_since"]["sha"] == shas["v1"]
    assert (arc["failed"]["sha"], arc["passed"]["sha"]) == (shas["v2"], shas["v3"])
    assert (arc["failed"]["threshold"], arc["passed"]["threshold"]) == (0.05, 0.1)
    assert arc["threshold_changed"] is True
    assert arc["treatment"] is None  # no code or params changed between V2 and V3


def test_arc_keeps_the_treatment_after_its_file_is_renamed(tmp_path: Path) -> None:
    """Today's treatment inputs no longer name train.py: the engine's own anchor is used."""
    shas = treated_history(tmp_path)
    git(tmp_path, "mv", "train.py", "trainer.py")
    (tmp_path / "dvc.yaml").write_text(DVC_YAML.replace("train.py", "trainer.py"))
    manifest = (tmp_path / "sei.yaml").read_text().replace("train.py", "trainer.py")
    (tmp_path / "sei.yaml").write_text(manifest)
    commit_all(tmp_path, "refactor: rename train.py")
    (arc,) = reconstruct(tmp_path)["payload"]["treatment_arcs"]
    assert arc["treatment"]["sha"] == shas["treatment"]
    assert arc["treatment"]["date"].endswith("Z")


def test_working_tree_bundle_is_the_latest_assessment(tmp_path: Path) -> None:
    treated_history(tmp_path)
    measure(tmp_path, 0.3)  # a regression, not committed
    payload = reconstruct(tmp_path)["payload"]
    assert len(payload["snapshots"]) == 2  # history only
    assert payload["risks"][0]["assessment"]["cycle"] == {"status": "open"}


def test_write_reconstruct_signed_and_verifiable(tmp_path: Path) -> None:
    treated_history(tmp_path)
    doc = reconstruct(tmp_path)
    key = signing.load_or_create_key()
    path = write_reconstruct(tmp_path, doc, key)
    assert path == tmp_path / ".sei" / "reconstruct.json"
    assert json.loads(path.read_text()) == doc
    verdict = signing.verify_evidence(tmp_path)
    assert verdict.ok, verdict.failures
    assert any(f.path == path and f.ok for f in verdict.files)

    out = write_reconstruct(tmp_path, doc, key, out=tmp_path / "reports" / "cycle.json")
    assert out.is_file() and signing.sig_path(out).is_file()
    assert signing.verify_file(out, signing.public_key_hex(key)).ok


def test_write_reconstruct_beside_legacy_evidence(tmp_path: Path) -> None:
    """A repository with only the reference's .venth evidence gets .sei/ with our public key."""
    replay("loan-scoring", tmp_path, upto=7)
    key = signing.load_or_create_key()
    path = write_reconstruct(tmp_path, reconstruct(tmp_path), key)
    assert (tmp_path / ".sei" / "PUBKEY.txt").read_text().strip() == signing.public_key_hex(key)
    assert signing.verify_evidence(tmp_path, evidence_dir=path.parent).ok
    assert signing.verify_evidence(tmp_path, evidence_dir=tmp_path / ".venth").ok


def test_write_reconstruct_refuses_a_foreign_pubkey(tmp_path: Path) -> None:
    treated_history(tmp_path)
    other = signing.load_or_create_key(tmp_path.parent / f"{tmp_path.name}-other.pem")  # outside
    with pytest.raises(SeiError, match="another public key"):
        write_reconstruct(tmp_path, reconstruct(tmp_path), other)


def test_reconstruct_needs_a_git_history(tmp_path: Path) -> None:
    with pytest.raises(SeiError, match="not a git repository"):
        reconstruct(tmp_path)
    git(tmp_path, "init", "-q")
    with pytest.raises(SeiError, match="no commit"):
        reconstruct(tmp_path)
