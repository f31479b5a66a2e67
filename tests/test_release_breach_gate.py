"""The control plane refuses a promotion while a post-market breach is open: the model_release
profile's hard rule `promotion_requires_no_open_breach` reads `postmarket.open` (the breaches
`core.postmarket.open_breaches` finds) and routes Block with a reason naming the breached
measure and its risk, unless management accepted the residual risk. The small generated system
of tests/test_postmarket.py: real signed evidence, then a day past the live parity bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sei_assets.core.control import plane
from sei_assets.core.control.profile import load_profile
from sei_assets.core.errors import SeiError
from tests.test_postmarket import system  # noqa: F401 - the fixture: a breach on real evidence
from tests.test_reconstruct import commit_all

GATE = "promotion_requires_no_open_breach"
MANAGER = "Quality Lead <quality@example.test>"
#: the gates of release.promote, in declared order
PROMOTION_GATES = [
    "promotion_requires_verified_evidence",
    "promotion_requires_valid_signatures",
    "promotion_requires_green_or_accepted_residual",
    GATE,
    "promotion_requires_approval",
]


def _submit(repo: Path, action: str, role: str = "agent", **payload: Any) -> plane.Submission:
    """One submission to the plane of ``repo`` under the shipped profile (its actions here run
    no hook: the explicit opt-out from its approval for use)."""
    actor = {"id": f"{role}-1", "role": role}
    loaded = load_profile("model_release")
    return plane.submit(repo, loaded, action, actor, payload, require_approved=False)


def _verified(repo: Path) -> None:
    """The evidence and its monitoring committed (approvals point at committed evidence), and
    verified through the plane."""
    commit_all(repo, "evidence: the system and its monitoring")
    assert _submit(repo, "evidence.verify").answer["route"] == "Continue"


def test_the_gate_blocks_promotion_while_the_breach_is_open_until_management_accepts_it(
    system: Path,  # noqa: F811 - the fixture imported above
    sei,
    org,
) -> None:
    org()  # management's decisions count only under a trusted roster
    _verified(system)
    # a period document that cannot be read leaves the breaches unknown: no answer (exit 2,
    # the file named), nothing recorded, nothing written
    garbage = system / ".sei" / "monitoring" / "2026-01-03.json"
    garbage.write_text("{not json")
    with pytest.raises(SeiError, match=r"2026-01-03\.json: not valid JSON"):
        _submit(system, "release.promote")
    result = sei(
        "control", "submit", "release.promote", "--actor", "agent-1", "--role", "agent",
        "--allow-unapproved", "--repo", str(system),
    )  # fmt: skip
    assert result.exit_code == 2 and "2026-01-03.json: not valid JSON" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    garbage.unlink()

    sub = _submit(system, "release.promote")
    answer = sub.answer
    assert (answer["status"], answer["route"]) == ("nok", "Block")
    assert (answer["gate_id"], answer["gate_type"]) == (GATE, "hard_rule")
    assert answer["reason"].startswith(
        "A post-market breach is open: live-parity (risk.unfair): past < 0.05 since 2026-01-02 "
        "(1 period, last 0.3): no green evidence generated after it. The model is not promoted"
    )
    # traced like every gate: the ones before it held, it refused, none after it ran
    assert [(g["id"], g["passed"]) for g in sub.trace["gates"]] == [
        *((g, True) for g in PROMOTION_GATES[:3]),
        (GATE, False),
    ]
    assert not (system / ".sei" / "release.json").exists()
    # the facts come from core.postmarket, as `sei status` reads them
    facts = plane.facts(system, load_profile("model_release"), {"id": "a", "role": "agent"}, {})
    pm = facts["postmarket"]
    assert (pm.open, pm.measures, pm.risks) == (True, ["live-parity"], ["risk.unfair"])
    assert pm.breaches[0]["since"] == "2026-01-02"

    # management's plain approval does not lift it: the breach still blocks
    assert _submit(system, "approval.request", by=MANAGER).answer["status"] == "ok"
    granted = _submit(system, "approval.grant", "management", by=MANAGER).answer
    assert granted["status"] == "ok", granted
    again = _submit(system, "release.promote").answer
    assert (again["route"], again["gate_id"]) == ("Block", GATE)

    # management accepts the residual risk: every gate holds and the model is promoted
    accepted = _submit(
        system, "risk.accept_residual", "management", by=MANAGER, message="retraining under way"
    )
    assert accepted.answer["status"] == "ok", accepted.answer
    sub = _submit(system, "release.promote")
    assert (sub.answer["status"], sub.answer["route"]) == ("ok", "Materialize"), sub.answer
    assert [(g["id"], g["passed"]) for g in sub.trace["gates"]] == [
        (g, True) for g in PROMOTION_GATES
    ]
    released = json.loads((system / ".sei" / "release.json").read_text())
    assert released["breaches_accepted"] == ["live-parity"]
    # the acceptance closes the breach for status and for the plane alike
    assert sei("status", "--repo", str(system)).exit_code == 0
    facts = plane.facts(system, load_profile("model_release"), {"id": "a", "role": "agent"}, {})
    assert facts["postmarket"].open is False


def test_without_an_open_breach_the_gate_holds(
    system: Path,  # noqa: F811
    sei,
) -> None:
    """New green evidence that re-measures the parity gap treats the breach: the gate holds and
    promotion waits only for management's approval."""
    (system / "params.yaml").write_text("bias: 0.1\n# retrained\n")
    assert sei("run", "--repo", str(system)).exit_code == 0
    _verified(system)
    sub = _submit(system, "release.promote")
    assert (sub.answer["route"], sub.answer["gate_id"]) == (
        "AskUser",
        "promotion_requires_approval",
    )
    assert (GATE, True) in [(g["id"], g["passed"]) for g in sub.trace["gates"]]
