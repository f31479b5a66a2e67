"""Risk analysis: inherent and residual levels per dimension against the appetite, cycle status,
priority, and the overall residual against its criterion (ISO/IEC 23894 6.4, prEN 18228 cl. 10).
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
    for index, risk in enumerate(program.risks):
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
        entry["_order"] = (
            CYCLE_ORDER[cycle],
            -rank(entry["inherent_overall"]),
            not entry["requires_treatment"],
            index,
        )
        entries.append(entry)
    for priority, entry in enumerate(sorted(entries, key=lambda e: e["_order"]), start=1):
        entry["priority"] = priority
    for entry in entries:
        del entry["_order"]
    return entries


def current_level(entry: dict[str, Any]) -> str:
    """A risk's level now: its residual once its controls confirm the treatment, else inherent."""
    if "residual_overall" in entry and entry["cycle"]["status"] == "closed":
        return entry["residual_overall"]
    return entry["inherent_overall"]


def overall_residual(program: RiskProgram, analysis: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest current level over all risks, against `overall_residual_criterion`."""
    criterion = program.overall_residual_criterion
    if not analysis:
        return {
            "level": "NEGLIGIBLE",
            "criterion": criterion,
            "evaluation": "within",
            "contributing": [],
        }
    levels = {e["risk_id"]: current_level(e) for e in analysis}
    top = highest(list(levels.values()))
    return {
        "level": top,
        "criterion": criterion,
        "evaluation": _eval(top, criterion),
        "contributing": [rid for rid, lvl in levels.items() if lvl == top],
    }
