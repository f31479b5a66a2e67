"""Risk analysis: inherent and residual levels per dimension against the appetite, cycle status,
priority, and the overall residual against its criterion (ISO/IEC 23894 6.4, prEN 18228 cl. 10).

The rules, stated once:

- **Level** of a cell: likelihood x impact on the 5x5 matrix (scores 1..25, banded by `BANDS`).
  A risk's `inherent_overall` is the highest level over its dimensions; when a treatment declares
  a `residual_likelihood` (the most likely one if several do), `residual_overall` is the highest
  level of that likelihood over the same impacts (ISO/IEC 23894 6.5.3: the residual risk the
  treatment plan is meant to leave).
- **Cycle**: `open` when one of the risk's blocking controls fails (the treatment is not yet
  effective), `closed` when it has measured controls and no blocking one fails (6.5: treatment
  confirmed; `control_confirmed` says whether every control passes), `monitored` when it has no
  measured control (declared or post-market measures only: 6.6 monitoring).
- **Priority** (6.4.4, risk evaluation: the analysis compared with the criteria to decide which
  risks are treated first) is a total order 1..n over the declared risks, sorted by, in turn:
  1. the cycle: `open` before `monitored` before `closed` (a failing blocking control is
     evidence that an exceedance is not under control; a confirmed treatment is last);
  2. the inherent level, highest first (the magnitude the evaluation weighs);
  3. whether any dimension's inherent level exceeds its appetite (`requires_treatment`) first;
  4. tie-break: the risk id, in code-point order (ids are unique, so the order is total and does
     not depend on where a risk is declared).
- **Effective residual** of a risk: its `residual_overall` when a treatment declares one, else its
  `inherent_overall` (an untreated risk keeps its inherent level).
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
CYCLE_ORDER = {"open": 0, "monitored": 1, "closed": 2}


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


def _residual_likelihood(treats: list) -> str | None:
    declared = [t.residual_likelihood for t in treats if t.residual_likelihood]
    return max(declared, key=LIKELIHOOD_SCORE.get) if declared else None


def analyse(program: RiskProgram, results: list[ControlResult]) -> list[dict[str, Any]]:
    """The bundle's `risk_analysis`: one entry per declared risk, with its priority."""
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
        if any(r.control.blocking and not r.passed for r in mine):
            cycle = "open"
        elif mine:
            cycle = "closed"
        else:
            cycle = "monitored"
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


def _priority_key(entry: dict[str, Any]) -> tuple[int, int, bool, str]:
    """The sort key of the priority rule (see the module docstring)."""
    return (
        CYCLE_ORDER[entry["cycle"]["status"]],
        -rank(entry["inherent_overall"]),
        not entry["requires_treatment"],
        entry["risk_id"],
    )


def effective_residual(entry: dict[str, Any]) -> str:
    """A risk's residual when a treatment declares one, else its inherent level."""
    return entry.get("residual_overall") or entry["inherent_overall"]


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
