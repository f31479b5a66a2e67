"""AI system impact assessment (ISO/IEC 42001 6.1.4 and 8.4; EU AI Act Art. 27 for high risk).

From the manifest: who is affected, which decisions the system makes, for what purpose, and each
reasonably foreseeable misuse with the declared risks that address it. From the bundle (when
given): each addressing risk's current level and cycle status. A misuse that no declared risk
addresses is a finding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sei_assets.core.evidence import dump, write_signed
from sei_assets.core.layout import EVIDENCE_DIR
from sei_assets.core.manifest import LoadedManifest, Manifest
from sei_assets.core.model import Bundle, ImpactDoc
from sei_assets.core.model.bundle import as_bundle

SCHEMA_VERSION = 1
KIND = "impact"
IMPACT_FILE = "impact.json"
FRAMEWORK_ISO = "iso/42001@2023#6.1.4"
FRAMEWORK_FRIA = "eu/ai-act@2024#art-27"


def _risk_state(entry: dict[str, Any] | None) -> dict[str, Any]:
    """Level and cycle of one risk from the bundle's risk_analysis entry (None when absent)."""
    from sei_assets.core.risk import effective_residual

    if not entry:
        return {"inherent_level": None, "residual_level": None, "level": None, "cycle": None}
    cycle = (entry.get("cycle") or {}).get("status")
    level = effective_residual(entry) if cycle and "inherent_overall" in entry else None
    return {
        "inherent_level": entry.get("inherent_overall"),
        "residual_level": entry.get("residual_overall"),
        "level": level,
        "cycle": cycle,
    }


def _misuses(m: Manifest, analysis: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    risks = {r.id: r for r in (m.risk.risks if m.risk else [])}
    out = []
    for misuse in m.system.potential_misuses:
        named = [rid for rid in misuse.addressed_by if rid in risks]
        unknown = [rid for rid in misuse.addressed_by if rid not in risks]
        addressing = []
        for rid in named:
            entry = {"risk_id": rid, "title": risks[rid].title, "domain": risks[rid].domain}
            if analysis is not None:
                entry.update(_risk_state(analysis.get(rid)))
            addressing.append(entry)
        out.append(
            {
                "id": misuse.id,
                "description": misuse.description,
                "addressed_by": list(misuse.addressed_by),
                "addressed": bool(named),
                "risks": addressing,
                "undeclared_risks": unknown,
            }
        )
    return out


def _finding(kind: str, severity: str, subject: str, message: str) -> dict[str, str]:
    return {"kind": kind, "severity": severity, "subject": subject, "message": message}


def _findings(m: Manifest, misuses: list[dict[str, Any]]) -> list[dict[str, str]]:
    name = m.system.name
    found = []
    if not m.system.intended_purpose.strip():
        found.append(_finding("no_intended_purpose", "high", name, "no intended purpose declared"))
    if not m.system.affected_persons:
        found.append(_finding("no_affected_persons", "high", name, "no affected persons declared"))
    if not m.system.potential_misuses:
        found.append(
            _finding("no_misuse_declared", "medium", name, "no foreseeable misuse declared")
        )
    for x in misuses:
        if not x["addressed"]:
            found.append(
                _finding(
                    "unaddressed_misuse",
                    "high",
                    x["id"],
                    f"misuse {x['id']} is addressed by no declared risk",
                )
            )
        for rid in x["undeclared_risks"]:
            found.append(
                _finding(
                    "undeclared_risk",
                    "high",
                    x["id"],
                    f"misuse {x['id']} names risk {rid}, which is not declared",
                )
            )
        for r in x["risks"]:
            if r.get("cycle") == "open":
                found.append(
                    _finding(
                        "open_risk",
                        "medium",
                        x["id"],
                        f"misuse {x['id']} relies on risk {r['risk_id']}, "
                        "whose blocking controls fail",
                    )
                )
    return found


def _fria(m: Manifest, misuses: list[dict[str, Any]]) -> dict[str, Any]:
    """Which elements of a fundamental-rights impact assessment (Art. 27(1)(a)-(f)) are on file."""
    oversight = sorted(x.id for _r, x in m.measures if x.article == "14")
    response = sorted(x.id for _r, x in m.measures if x.is_monitoring or x.article in ("72", "73"))
    program = m.risk
    elements = {
        "a_process_and_purpose": bool(m.system.intended_purpose and m.system.decisions),
        "b_period_and_frequency": bool(program and program.review_interval),
        "c_affected_persons": bool(m.system.affected_persons),
        "d_risks_of_harm": bool(program and program.risks) and any(x["addressed"] for x in misuses),
        "e_human_oversight": bool(oversight),
        "f_measures_if_risks_materialise": bool(response),
    }
    return {
        "elements": elements,
        "missing": [k for k, v in elements.items() if not v],
        "human_oversight_measures": oversight,
        "response_measures": response,
    }


def impact_assessment(
    loaded: LoadedManifest, bundle: Bundle | dict[str, Any] | None
) -> dict[str, Any]:
    """The impact assessment document (envelope kind ``impact``)."""
    m = loaded.manifest
    analysis = None
    bundle = as_bundle(bundle)
    if bundle is not None:
        analysis = {e.risk_id: e.to_json() for e in bundle.risk_analysis}
    misuses = _misuses(m, analysis)
    findings = _findings(m, misuses)
    tier = m.classification.tier if m.classification else None
    frameworks = [FRAMEWORK_ISO] + ([FRAMEWORK_FRIA] if tier == "high" else [])
    payload: dict[str, Any] = {
        "frameworks": frameworks,
        "intended_purpose": m.system.intended_purpose,
        "organization": m.system.organization,
        "decisions": list(m.system.decisions),
        "affected_persons": list(m.system.affected_persons),
        "classification": (
            {"tier": tier, "basis": list(m.classification.basis)} if m.classification else None
        ),
        "misuses": misuses,
        "findings": findings,
        "summary": {
            "misuses": len(misuses),
            "addressed": sum(1 for x in misuses if x["addressed"]),
            "unaddressed": [x["id"] for x in misuses if not x["addressed"]],
            "findings": len(findings),
        },
        "risk_levels_from_bundle": bundle is not None,
    }
    if tier == "high":
        payload["fundamental_rights"] = _fria(m, misuses)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "system": m.system.name,
        "payload": payload,
    }


def write_impact(repo: Path, doc: dict[str, Any], key: Any) -> Path:
    """Write ``.sei/impact.json`` and its detached signature; return the JSON path."""
    from sei_assets.core import signing

    target = Path(repo) / EVIDENCE_DIR / IMPACT_FILE
    write_signed(target, dump(ImpactDoc.model_validate(doc)), key)
    signing.write_pubkey(Path(repo) / EVIDENCE_DIR, key)
    return target
