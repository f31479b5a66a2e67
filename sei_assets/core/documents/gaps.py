"""What would close a clause that a conformance projection leaves open, in words, from the rule
the standard's catalogue gives the clause (`knowledge/standards/*.yaml`)."""

from __future__ import annotations

from typing import Any

#: For each rule of the conformance vocabulary, what a team adds to meet it.
REMEDY = {
    "cited": "a measure citing {ref} in its standard_clauses that passes",
    "stakeholders": "the affected persons (system.affected_persons)",
    "intended_purpose": "the intended purpose (system.intended_purpose)",
    "misuses_declared": "the foreseeable misuses (system.potential_misuses)",
    "misuses_addressed": "a declared risk addressing every foreseeable misuse (addressed_by)",
    "classification": "the classification tier with its basis (classification)",
    "roles_declared": "the operator role, e.g. provider or deployer (roles)",
    "standards_declared": "the applicable standards (context.applicable_standards)",
    "risk_estimation": "likelihood and impact for every risk",
    "criteria_applied": "the risk appetite and an overall residual criterion (risk.appetite)",
    "control_hierarchy": "an acting treatment with measures for every risk that needs one",
    "residual_present": "a residual likelihood on the treatments (residual_likelihood)",
    "overall_residual": "an overall residual within its criterion",
    "power_stats": "confidence intervals for the metrics (the power record)",
    "controls": "every evaluated control passing",
    "treatment_events": "a corrective treatment: a failed control passing after it",
    "data_governance": "the data set's Croissant description (dataset.croissant)",
    "monitoring": "a post-market plan (trigger, frequency, Art. 72 citation) or a review interval",
    "signed_bundle": "a signed evidence bundle (`sei run`)",
    "bom": "a component inventory (the CycloneDX BOM of `sei run`)",
    "approval": "a current management approval (`sei approve`)",
    "post_market": "signed monitoring periods of the production source, current in their "
    "frequency (the `<system>/monitoring` partitions), and every serious-incident report "
    "deadline met (`sei incident update --reported-at`)",
}


def _words(spec: Any, ref: str) -> str:
    from sei_assets.core.conformance import _parse

    name, params = _parse(spec)
    if name == "post_market":
        return f"{_words(params['plan'], ref)}; and, with a production source, {REMEDY[name]}"
    if name in ("all_of", "any_of"):
        parts = [_words(s, ref) for s in params]
        joiner = " and " if name == "all_of" else "; or "
        text = joiner.join(parts)
        return f"({text})" if name == "all_of" and len(parts) > 1 else text
    return REMEDY.get(name, name).format(ref=ref)


def to_close(standard: str, clause_id: str) -> str:
    """What would close ``clause_id`` of ``standard``: the rule of its catalogue in words."""
    from sei_assets.core.conformance import catalogue

    cat = catalogue(standard) or {}
    spec = next((c for c in cat.get("clauses", []) if str(c.get("id")) == str(clause_id)), None)
    ref = f"{standard}#{clause_id}"
    if spec is None:
        return REMEDY["cited"].format(ref=ref)
    return _words(spec.get("rule"), ref)


def open_clauses(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The clauses of a conformance document that are not covered, each with its decision,
    basis and what would close it."""
    payload = doc.get("payload") or {}
    standard = str(payload.get("standard"))
    return [
        {
            "clause": c.get("clause_id"),
            "title": c.get("title"),
            "decision": c.get("decision"),
            "basis": c.get("basis"),
            "to_close": to_close(standard, str(c.get("clause_id"))),
        }
        for c in payload.get("clauses") or []
        if c.get("decision") in ("gap", "partial")
    ]
