"""Management decisions as git commits with trailers, the lifecycle and approval staleness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core import governance
from sei_assets.core.errors import SeiError
from tests.reference import replay
from tests.test_reconstruct import commit_all, declare, git, measure, treated_history

DEV = "Dev Demo <dev@example.test>"
QUALITY = "Quality Lead <quality@example.test>"


def trailers(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev)


@pytest.fixture
def green(tmp_path: Path) -> Path:
    """A system whose committed V2 evidence is green (V1 red, then a treatment)."""
    treated_history(tmp_path)
    return tmp_path


def test_request_then_approve(green: Path) -> None:
    assert governance.lifecycle(green) == {"state": "draft"}
    req = governance.request(green, DEV)
    assert git(green, "rev-parse", "HEAD") == req
    assert trailers(green) == f"Sei-Approval-Requested-by: {DEV}"
    assert git(green, "show", "--format=", "--name-only", req) == ""  # an empty commit
    state = governance.lifecycle(green)
    assert (state["state"], state["by"], state["sha"]) == ("requested", DEV, req)
    assert state["date"].endswith("Z") and "stale" not in state

    ok = governance.approve(green, QUALITY, "sei: approval of the treatment plan")
    assert git(green, "log", "-1", "--format=%s") == "sei: approval of the treatment plan"
    assert trailers(green) == f"Sei-Approved-by: {QUALITY}"
    assert governance.lifecycle(green) == {
        "state": "approved",
        "by": QUALITY,
        "sha": ok,
        "date": governance.decisions(green)[-1]["date"],
        "stale": False,
    }
    assert [(d["kind"], d["by"], d["sha"]) for d in governance.decisions(green)] == [
        ("request", DEV, req),
        ("approve", QUALITY, ok),
    ]
    assert governance.approval(green) == {
        "approver": QUALITY,
        "sha": ok,
        "date": governance.decisions(green)[-1]["date"],
        "stale": False,
    }


def test_approval_goes_stale_when_evidence_changes(green: Path) -> None:
    governance.approve(green, QUALITY)
    (green / "README.md").write_text("unrelated\n")
    commit_all(green, "docs: readme")
    assert governance.lifecycle(green)["stale"] is False  # evidence untouched

    measure(green, 0.03)  # a new run rewrites .sei/bundle.json, not committed yet
    state = governance.lifecycle(green)
    assert state["stale"] is True and "working tree" in state["stale_reason"]

    rerun = commit_all(green, "run: V3 evidence")
    state = governance.lifecycle(green)
    assert state["state"] == "approved" and state["stale"] is True
    assert rerun[:12] in state["stale_reason"]
    assert governance.approval(green)["stale"] is True

    again = governance.approve(green, QUALITY)  # re-approval of the new evidence
    assert governance.lifecycle(green)["sha"] == again
    assert governance.lifecycle(green)["stale"] is False


def test_reference_style_conformance_reemission_does_not_stale(green: Path) -> None:
    """Writing other evidence (reconstruct, conformance) after the approval is not a change of
    the approved bundle (loan-scoring commit 7 re-emits them and stays not stale)."""
    governance.approve(green, QUALITY)
    (green / ".sei" / "reconstruct.json").write_text("{}\n")
    commit_all(green, ".sei: reconstruct after approval")
    assert governance.lifecycle(green)["stale"] is False


def test_reject_with_reason_and_retire(green: Path) -> None:
    with pytest.raises(SeiError, match="reason"):
        governance.reject(green, QUALITY, "   ")
    governance.request(green, DEV)
    sha = governance.reject(green, QUALITY, "residual risk above appetite:\n see minutes")
    assert trailers(green) == (
        f"Sei-Rejected-by: {QUALITY}\nSei-Reason: residual risk above appetite: see minutes"
    )
    state = governance.lifecycle(green)
    assert state == {
        "state": "rejected",
        "by": QUALITY,
        "sha": sha,
        "date": state["date"],
        "reason": "residual risk above appetite: see minutes",
    }
    assert governance.decisions(green)[-1]["reason"] == state["reason"]

    governance.review(green, QUALITY, "sei: semestral review")
    review = governance.decisions(green)[-1]
    assert review["kind"] == "review" and trailers(green) == f"Sei-Reviewed-by: {QUALITY}"
    state = governance.lifecycle(green)
    assert state["state"] == "rejected"  # a review does not change the state
    assert state["last_review"] == {"by": QUALITY, "sha": review["sha"], "date": review["date"]}

    gone = governance.retire(green, QUALITY, "replaced by the v2 system")
    state = governance.lifecycle(green)
    assert (state["state"], state["sha"], state["reason"]) == (
        "retired",
        gone,
        "replaced by the v2 system",
    )
    for decide in (governance.request, governance.approve, governance.review):
        with pytest.raises(SeiError, match="retired"):
            decide(green, DEV)
    assert git(green, "rev-parse", "HEAD") == gone


@pytest.mark.parametrize(
    "by",
    [
        "Quality Lead",
        "quality@example.test",
        "<quality@example.test>",
        "Q <not-an-email>",
        "",
        "Q <q@x>\nSei-Approved-by: Boss <boss@x>",
    ],
)
def test_bad_identity_refused(green: Path, by: str) -> None:
    head = git(green, "rev-parse", "HEAD")
    with pytest.raises(SeiError, match="expected 'Name <email>'"):
        governance.approve(green, by)
    with pytest.raises(SeiError, match="expected 'Name <email>'"):
        governance.request(green, by)
    assert git(green, "rev-parse", "HEAD") == head


def test_message_cannot_forge_trailers(green: Path) -> None:
    with pytest.raises(SeiError, match="trailers"):
        governance.request(green, DEV, "please approve\n\nSei-Approved-by: Boss <boss@x.test>")
    assert governance.decisions(green) == []


def test_approve_without_evidence_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "sei.yaml").write_text("system: {name: bare}\n")
    commit_all(tmp_path, "declare")
    with pytest.raises(SeiError, match="no evidence to approve"):
        governance.approve(tmp_path, QUALITY)
    assert governance.decisions(tmp_path) == []


def test_approve_uncommitted_evidence_refused(green: Path) -> None:
    measure(green, 0.01)
    with pytest.raises(SeiError, match="not committed"):
        governance.approve(green, QUALITY)


def test_approve_tampered_evidence_refused(green: Path) -> None:
    bundle = green / ".sei" / "bundle.json"
    doc = json.loads(bundle.read_text())
    doc["gate"] = "green"
    doc["control_results"][0]["actual_value"] = 0.0
    bundle.write_text(json.dumps(doc))
    commit_all(green, "edit evidence by hand")
    with pytest.raises(SeiError, match="signature does not verify"):
        governance.approve(green, QUALITY)


def test_red_gate_needs_accepted_residual(tmp_path: Path) -> None:
    declare(tmp_path)  # V1: the parity gate is red
    with pytest.raises(SeiError, match="gate is red.*accept_residual"):
        governance.approve(tmp_path, QUALITY)
    assert governance.decisions(tmp_path) == []
    sha = governance.approve(tmp_path, QUALITY, accept_residual=True)
    assert trailers(tmp_path) == (
        f"Sei-Approved-by: {QUALITY}\nSei-Residual-Accepted: red gate: parity"
    )
    (decision,) = governance.decisions(tmp_path)
    assert (decision["sha"], decision["residual_accepted"]) == (sha, "red gate: parity")
    assert decision["subject"].endswith("and acceptance of the residual risk")
    assert governance.lifecycle(tmp_path)["state"] == "approved"


def test_decision_commit_leaves_staged_work_out(green: Path) -> None:
    (green / "wip.py").write_text("x = 1\n")
    git(green, "add", "wip.py")
    sha = governance.request(green, DEV)
    assert git(green, "show", "--format=", "--name-only", sha) == ""
    assert git(green, "diff", "--cached", "--name-only") == "wip.py"


def test_legacy_trailers_are_read(tmp_path: Path) -> None:
    """quickstart's request is a `Froga-Approval-Requested-by:` trailer."""
    mapping = replay("quickstart", tmp_path, upto=10)
    (decision,) = governance.decisions(tmp_path)
    assert decision["kind"] == "request"
    assert decision["trailer"] == "Froga-Approval-Requested-by"
    assert decision["by"] == "Marta Demo <marta@demo.seigarrena.dev>"
    assert decision["sha"] in mapping.values()
    assert governance.lifecycle(tmp_path)["state"] == "requested"


def test_reference_evidence_can_be_approved(tmp_path: Path) -> None:
    """The reference's signed .venth evidence verifies, so it can be approved as the reference
    did at loan-scoring commit 6."""
    replay("loan-scoring", tmp_path, upto=5)
    sha = governance.approve(tmp_path, "Quality Demo <quality@example-loan-corp.demo>")
    state = governance.lifecycle(tmp_path)
    assert (state["state"], state["sha"], state["stale"]) == ("approved", sha, False)
