"""Risk analysis: inherent and residual levels per dimension against the appetite, cycle status,
priority, and the overall residual against its criterion (ISO/IEC 23894 6.4, prEN 18228 cl. 10).

The rules, stated once:

- **Level** of a cell: likelihood x impact on the 5x5 matrix (scores 1..25, banded by `BANDS`).
  A risk's `inherent_overall` is the highest level over its dimensions; when a treatment declares
  a `residual_likelihood` (the most likely one if several do), `residual_overall` is the highest
  level of that likelihood over the same impacts (ISO/IEC 23894 6.5.3: the residual risk the
  treatment plan is meant to leave).
- **Cycle** (6.5: a treatment is confirmed by evidence that it works, or the risk is retained by
  an informed decision of management):
  - `open` when one of the risk's blocking (`gate`, enforcement `block`) controls fails and
    management has not accepted that failure;
  - `closed` when at least one blocking control passes and none fails, or when every failing
    blocking control was accepted by management (``accepted``: the controls an approval's
    ``Sei-Residual-Accepted`` names). A passing warning (`audit`, `warn`) or monitor control
    cannot close a risk: it does not stop a release, so it confirms nothing;
  - `monitored` otherwise: its measured controls are all `warn`/`monitor`, or it has only
    declared or post-market measures (6.6 monitoring and review).
  `control_confirmed` says whether the risk has measured controls and every one passes.
- **Current level** of a risk: its `residual_overall` when its cycle is `closed` and a treatment
  declares one (the treatment is in force and confirmed), else its `inherent_overall` (a planned
  treatment that is not confirmed leaves the risk where it was).
- **Priority** (6.4.4, risk evaluation: the analysis compared with the criteria to decide which
  risks need treatment and in which order; 6.5.2, treatment options chosen by priority) is a
  total order 1..n over the declared risks, sorted by, in turn:
  1. the current level, highest first (the magnitude the evaluation weighs now);
  2. whether any dimension's inherent level exceeds its appetite (`requires_treatment`) first;
  3. the cycle: an `open` risk (a blocking control fails: treatment not effective) before the
     others;
  4. tie-break: the risk id, in code-point order (ids are unique, so the order is total and does
     not depend on where a risk is declared).
  This order reaches the priorities of every reference bundle we hold (`tests/test_risk_rules.py`
  replays them).
- **Effective residual** of a risk: its `residual_overall` when a treatment declares one, else its
  `inherent_overall` (an untreated risk keeps its inherent level). Unlike the current level it
  does not wait for the treatment to be confirmed: the overall residual is what the treatment
  plan leaves (6.5.3), the level management is asked to accept.
- **Overall residual** (prEN 18228 cl. 10, ISO/IEC 23894 6.5): `level` is the highest effective
  residual over all risks (NEGLIGIBLE with none), `evaluation` compares it with
  `overall_residual_criterion` (`exceeds` only when strictly above), and `contributing` lists, in
  declaration order, exactly the risks whose effective residual equals that level: a risk below
  the overall level cannot be what makes it.
"""

from __future__ import annotations

from typing import Any

from sei_assets.core.controls import ControlResult
from sei_assets.core.manifest import RiskProgram

LEVELS = ["NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
LIKELIHOOD_SCORE = {"RARE": 1, "UNLIKELY": 2, "POSSIBLE": 3, "LIKELY": 4, "ALMOST_CERTAIN": 5}
IMPACT_SCORE = {"NEGLIGIBLE": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}
# 5x5 matrix bands on likelihood x impact (1..25), matching the reference's observed cells.
BANDS = [(2, "NEGLIGIBLE"), (7, "LOW"), (9, "MEDIUM"), (16, "HIGH"), (25, "CRITICAL")]


def level(likelihood: str, impact: str) -> str:
    """Risk level of one cell of the 5x5 matrix."""
    score = LIKELIHOOD_SCORE[likelihood] * IMPACT_SCORE[impact]
    return next(name for top, name in BANDS if score <= top)


def rank(name: str) -> int:
    """Order of a level name (NEGLIGIBLE lowest)."""
    return LEVELS.index(name)


def highest(levels: list[str]) -> str:
    """The highest of some level names."""
    return max(levels, key=rank)


def _eval(current: str, appetite: str | None) -> str:
    if appetite is None:
        return "exceeds"
    return "exceeds" if rank(current) > rank(appetite) else "within"


def _residual_likelihood(treats: list[Any]) -> str | None:
    declared = [t.residual_likelihood for t in treats if t.residual_likelihood]
    return max(declared, key=lambda level: LIKELIHOOD_SCORE[level]) if declared else None


def cycle_status(results: list[ControlResult], accepted: frozenset[str] = frozenset()) -> str:
    """A risk's cycle status from its measured control results (see the module docstring)."""
    blocking = [r for r in results if r.control.blocking]
    failing = [r for r in blocking if not r.passed]
    if any(r.control.control_id not in accepted for r in failing):
        return "open"
    if failing or any(r.passed for r in blocking):
        return "closed"
    return "monitored"


def analyse(
    program: RiskProgram, results: list[ControlResult], accepted: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The bundle's `risk_analysis`: one entry per declared risk, with its priority.
    ``accepted``: the failing blocking controls whose residual risk management accepted."""
    entries = []
    for risk in program.risks:
        residual_l = _residual_likelihood(risk.treat)
        dims = []
        for dim, impact in risk.impact.items():
            appetite = program.appetite.get(dim)
            inherent = level(risk.likelihood, impact)
            d: dict[str, Any] = {
                "dimension": dim,
                "impact": impact,
                "appetite": appetite,
                "inherent_level": inherent,
                "inherent_eval": _eval(inherent, appetite),
            }
            if residual_l:
                residual = level(residual_l, impact)
                d["residual_level"] = residual
                d["residual_eval"] = _eval(residual, appetite)
            dims.append(d)
        mine = [r for r in results if r.control.risk_id == risk.id]
        cycle = cycle_status(mine, accepted)
        entry: dict[str, Any] = {
            "risk_id": risk.id,
            "kind": "threat",
            "provenance": "declared",
            "likelihood": risk.likelihood,
        }
        if residual_l:
            entry["residual_declared_likelihood"] = residual_l
        entry["dimensions"] = dims
        entry["inherent_overall"] = highest([d["inherent_level"] for d in dims])
        if residual_l:
            entry["residual_overall"] = highest([d["residual_level"] for d in dims])
        entry["requires_treatment"] = any(d["inherent_eval"] == "exceeds" for d in dims)
        entry["control_confirmed"] = bool(mine) and all(r.passed for r in mine)
        entry["cycle"] = {"status": cycle}
        entries.append(entry)
    for position, entry in enumerate(sorted(entries, key=_priority_key), start=1):
        entry["priority"] = position
    return entries


def current_level(entry: dict[str, Any]) -> str:
    """A risk's level now: the declared residual once the cycle is closed, else inherent."""
    closed = entry["cycle"]["status"] == "closed"
    level: str = (entry.get("residual_overall") if closed else None) or entry["inherent_overall"]
    return level


def _priority_key(entry: dict[str, Any]) -> tuple[int, bool, bool, str]:
    """The sort key of the priority rule (see the module docstring)."""
    return (
        -rank(current_level(entry)),
        not entry["requires_treatment"],
        entry["cycle"]["status"] != "open",
        entry["risk_id"],
    )


def effective_residual(entry: dict[str, Any]) -> str:
    """A risk's residual when a treatment declares one, else its inherent level."""
    level: str = entry.get("residual_overall") or entry["inherent_overall"]
    return level


def overall_residual(program: RiskProgram, analysis: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest effective residual over all risks, against `overall_residual_criterion`,
    with exactly the risks at that level as `contributing`."""
    criterion = program.overall_residual_criterion
    levels = {e["risk_id"]: effective_residual(e) for e in analysis}
    top = highest(list(levels.values())) if levels else "NEGLIGIBLE"
    return {
        "level": top,
        "criterion": criterion,
        "evaluation": _eval(top, criterion),
        "contributing": [rid for rid, lvl in levels.items() if lvl == top],
    }
