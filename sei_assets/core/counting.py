"""The one rule that says whether a management decision counts, and why not.

A decision counts when all of these hold:

1. it has a signed decision record (a trailer alone is a name anyone can write: it is shown as
   *unsigned (as the reference records them)*) whose signature verifies, and the record says
   the same decision by the same person as the trailer;
2. a roster is in force (:mod:`roster`) and lists the record's key;
3. the key belongs to the person the record names (else the name is forged);
4. the person holds, in the roster, the role the decision needs (``risk_owner`` requests,
   ``management`` approves, reviews, rejects and retires);
5. an approval is about the evidence committed with it (the same evidence index, treatment
   commit and residual risk accepted), and its decider neither authored the treatment commit nor
   holds the key that signed the evidence (separation of duties).

Every front (lifecycle, release, the control plane, conformance, the checks library) asks
:func:`judged_lifecycle` or :func:`count`; none re-implements a part of the rule. When no roster
is trusted on this machine, decisions are read and shown as before but none counts (the safe
default: a name anyone can write approves nothing); every reader says so in
:data:`NO_ROSTER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError

UNSIGNED = "unsigned (as the reference records them)"
NO_ROSTER = "not counted: no roster is trusted on this machine; see `sei roster trust`"
_UNSET: Any = object()


@dataclass(frozen=True)
class Count:
    """Whether a decision counts (only ever under a trusted roster), whether it is signed, and
    why."""

    counted: bool
    signed: bool
    reason: str


def _roster() -> tuple[Any, str | None]:
    """The roster in force (or None) and, when one is named but unusable, why."""
    from sei_assets.core import roster

    try:
        return roster.in_force(), None
    except SeiError as exc:
        return None, str(exc)


def enforced() -> bool:
    """Whether a roster is named, so that only counted decisions approve anything."""
    from sei_assets.core import roster

    try:
        return roster.configured() is not None
    except SeiError:
        return True


def count(repo: Path, decision: dict[str, Any], roster: Any = _UNSET) -> Count:
    """Whether ``decision`` (as :func:`governance.decisions` gives it) counts, and why."""
    from sei_assets.core import decision_record as dr

    problem = None
    if roster is _UNSET:
        roster, problem = _roster()
    rel, sha = decision.get("record"), decision.get("sha") or "HEAD"
    if not rel or not dr.is_signed_record(Path(repo), rel, sha):  # a trailer, a reference record
        return Count(False, False, UNSIGNED if problem or roster else f"{UNSIGNED}; {NO_ROSTER}")
    checked = dr.check(Path(repo), rel, sha)
    if not checked.ok:
        return Count(False, False, checked.problem or "the record does not verify")
    record = checked.record or {}
    by = " ".join(str(record.get("by", "")).split())
    if record.get("decision") != decision["kind"] or by != decision["by"]:
        return Count(
            False,
            True,
            f"the record {rel} says {record.get('decision')} by {by}, the commit says "
            f"{decision['kind']} by {decision['by']}",
        )
    if problem:
        return Count(False, True, problem)
    keyid = checked.keyid or ""  # a record that verifies has its key's id
    if roster is None:
        return Count(False, True, f"signed by key {keyid[:16]}…; {NO_ROSTER}")
    person = roster.person_of(checked.keyid)
    if person is None:
        return Count(False, True, f"signed by a key that is not in the roster ({keyid[:16]}…)")
    if person.id != by:
        return Count(
            False, True, f"the key belongs to {person.id}, not to {by}: the name is not theirs"
        )
    role, needed = record.get("role"), dr.ROLE_FOR[decision["kind"]]
    if role != needed:
        return Count(False, True, f"taken as {role}; a {decision['kind']} needs the role {needed}")
    if role not in person.roles:
        held = ", ".join(person.roles) or "none"
        return Count(False, True, f"{by} does not hold the role {role} (roster: {held})")
    if decision["kind"] == "approve":
        why = _approval_problem(Path(repo), decision, record, person)
        if why:
            return Count(False, True, why)
    return Count(True, True, f"counted: signed by {by} as {role}")


def _approval_problem(
    repo: Path, decision: dict[str, Any], record: dict[str, Any], person: Any
) -> str | None:
    """Why an approval is not about its evidence or breaks separation of duties, or None."""
    from sei_assets.core import decision_record as dr
    from sei_assets.core.gitutil import blob_at, git_text
    from sei_assets.core.signing import PUBKEY_FILE

    raw_about = record.get("about")
    about = raw_about if isinstance(raw_about, dict) else {}
    actual = dr.evidence_about(repo, decision["sha"])
    for field in ("evidence_index", "treatment_commit"):
        if about.get(field) != actual[field]:
            return (
                f"the record is about other evidence ({field} {about.get(field)}; the evidence "
                f"committed with it has {actual[field]})"
            )
    if about.get("residual_accepted") != decision.get("residual_accepted"):
        return (
            f"the record accepts residual {about.get('residual_accepted')!r}, the commit says "
            f"{decision.get('residual_accepted')!r}"
        )
    treatment = actual["treatment_commit"]
    if treatment:
        author = git_text(repo, "log", "-1", "--format=%ae", treatment, "--").strip().lower()
        if author and author == person.email:
            return (
                f"separation of duties: {person.id} authored the treatment commit "
                f"{treatment[:12]} this approves"
            )
    signer = blob_at(repo, decision["sha"], f"{dr.FOLDER.rsplit('/', 1)[0]}/{PUBKEY_FILE}") or b""
    if signer.strip().decode("ascii", "replace") in person.keys:
        return f"separation of duties: {person.id}'s key signed the evidence this approves"
    return None


def judged_lifecycle(repo: Path, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """:func:`governance.lifecycle` with the rule's verdict on the current decision: ``signed``,
    ``counted`` (never without a trusted roster) and ``counting`` (the reason)."""
    from sei_assets.core import governance

    repo = Path(repo)
    history = governance.decisions(repo) if history is None else history
    state = governance.lifecycle(repo, history)
    if state["state"] == "draft":
        return state
    current = next(
        d for d in reversed(history) if d["sha"] == state["sha"] and d["kind"] != "review"
    )
    verdict = count(repo, current)
    state |= {"signed": verdict.signed, "counted": verdict.counted, "counting": verdict.reason}
    return state


def approval_in_force(state: dict[str, Any]) -> tuple[bool, str]:
    """Whether a judged lifecycle holds an approval in force (approved, not stale, and counted
    under the trusted roster), and why not."""
    if state.get("state") != "approved":
        return False, f"no management approval (lifecycle state: {state.get('state')})"
    if state.get("stale"):
        return False, f"the approval is stale: {state.get('stale_reason')}"
    if state.get("counted") is not True:
        return False, f"the approval by {state.get('by')} does not count: {why_not(state)}"
    return True, f"approved by {state.get('by')}"


def why_not(state: dict[str, Any]) -> str:
    """Why the current decision of a judged lifecycle does not count, in the user's words: the
    rule's reason and, on a machine that trusts no roster, that too."""
    reason = str(state.get("counting") or "")
    if enforced() or NO_ROSTER in reason:
        return reason
    return f"{reason}; {NO_ROSTER}" if reason else NO_ROSTER
