"""The ISO/IEC 42001 Statement of Applicability (6.1.3): every Annex A control of the shipped
catalogue (`knowledge/iso42001_annex_a.yaml`), applicable or excluded with the manifest's
justification (`risk.applicability`), implemented by which measures and evidence, its status.

The manifest declares exclusions (and, if it likes, the justification of an applied control):

    risk:
      applicability:
        A.10.4: {applicable: false, justification: "No customers: used in-house only."}
        A.6.2.8: {justification: "Decision logs are kept by the loan platform."}

A control not named there is applicable (the standard asks for a reason to exclude, not to
apply). Status: ``implemented`` (every evidence kind met and every citing measure passes),
``partial``, ``not implemented``, ``not evidenced`` (an organisational control nothing here
can show: a citing measure or an exclusion would account for it) or ``excluded``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sei_assets.core.documents.sources import DOSSIER_HTML, EVIDENCE, Ref, Sources
from sei_assets.core.errors import SeiError

STANDARD = "iso/42001@2023"
SCHEMA = "sei-assets/soa/v1"
KINDS = (
    "intended_purpose",
    "affected_persons",
    "misuses",
    "classification",
    "roles",
    "risk_program",
    "appetite",
    "controls_pass",
    "impact_assessment",
    "data_governance",
    "bom",
    "pipeline_lock",
    "signed_evidence",
    "monitoring_plan",
    "review_interval",
    "approval",
    "history",
    "dossier",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnexControl(_Strict):
    id: str
    title: str
    evidence: list[str] = Field(default_factory=list)


class AnnexGroup(_Strict):
    id: str
    title: str


class AnnexA(_Strict):
    """`knowledge/iso42001_annex_a.yaml`."""

    standard: str
    groups: list[AnnexGroup]
    controls: list[AnnexControl] = Field(min_length=1)


@cache
def catalogue() -> dict[str, Any]:
    """The Annex A catalogue, validated (every evidence kind one this module evaluates)."""
    from sei_assets.core.knowledge import load

    data = load("iso42001_annex_a.yaml", AnnexA)
    for c in data["controls"]:
        unknown = [k for k in c.get("evidence", []) if k not in KINDS]
        if unknown:
            raise SeiError(f"sei_assets/knowledge/iso42001_annex_a.yaml: {c['id']}: {unknown}")
    return data


def _group(control_id: str) -> str:
    parts = control_id.split(".")
    return ".".join(parts[:2])


def applicability(src: Sources) -> dict[str, dict[str, Any]]:
    """The manifest's ``risk.applicability``, checked: control id → applicable, justification.
    A malformed entry is bad input (exit 2) naming the manifest and the key."""
    program = src.manifest.manifest.risk
    declared = dict(program.applicability) if program else {}
    known = {c["id"] for c in catalogue()["controls"]}
    where = src.manifest.path
    out: dict[str, dict[str, Any]] = {}
    for cid, entry in declared.items():
        key = f"risk.applicability.{cid}"
        if cid not in known:
            raise SeiError(f"{where}: {key}: not an ISO/IEC 42001 Annex A control id")
        if isinstance(entry, str):
            entry = {"applicable": False, "justification": entry}
        if not isinstance(entry, dict) or set(entry) - {"applicable", "justification"}:
            raise SeiError(
                f"{where}: {key}: expected {{applicable: true|false, justification: text}}"
            )
        applicable = entry.get("applicable", True)
        why = entry.get("justification")
        if not isinstance(applicable, bool) or not (why is None or isinstance(why, str)):
            raise SeiError(f"{where}: {key}: applicable is true or false, justification text")
        if not applicable and not (why or "").strip():
            raise SeiError(f"{where}: {key}: an excluded control needs its justification")
        out[cid] = {"applicable": applicable, "justification": (why or "").strip() or None}
    return out


def _fact(state: str, text: str, ref: Ref | None) -> dict[str, Any]:
    return {"state": state, "text": text, "source": ref.path if ref else None}


def evidence_kind(src: Sources, kind: str, with_dossier: bool = False) -> dict[str, Any]:
    """Whether the evidence of ``kind`` is there: state ``met``/``partial``/``missing``, the
    fact in words, and the file it comes from."""
    m = src.manifest.manifest
    b = src.bundle
    man, bun = src.manifest_ref, src.bundle_ref
    if kind == "intended_purpose":
        ok = bool(m.system.intended_purpose.strip())
        return _fact(
            "met" if ok else "missing",
            "intended purpose declared"
            if ok
            else "no intended purpose declared (system.intended_purpose)",
            man,
        )
    if kind == "affected_persons":
        ok = bool(m.system.affected_persons)
        text = (
            f"affected persons: {', '.join(m.system.affected_persons)}"
            if ok
            else "no affected persons declared (system.affected_persons)"
        )
        return _fact("met" if ok else "missing", text, man)
    if kind == "misuses":
        misuses = m.system.potential_misuses
        addressed = [x for x in misuses if x.addressed_by]
        if not misuses:
            return _fact(
                "missing", "no foreseeable misuse declared (system.potential_misuses)", man
            )
        state = "met" if len(addressed) == len(misuses) else "partial"
        return _fact(
            state,
            f"{len(addressed)} of {len(misuses)} foreseeable misuses addressed by a declared risk",
            man,
        )
    if kind == "classification":
        c = m.classification
        if c and c.tier and c.basis:
            return _fact("met", f"classified {c.tier}, with its basis", man)
        return _fact("missing", "no classification with a basis (classification)", man)
    if kind == "roles":
        if m.roles:
            return _fact("met", "roles: " + ", ".join(r.role for r in m.roles), man)
        return _fact("missing", "no operator role declared (roles)", man)
    if kind == "risk_program":
        risks = m.risk.risks if m.risk else []
        treated = [r for r in risks if r.treat]
        if not risks:
            return _fact("missing", "no risk declared (risk.risks)", man)
        return _fact(
            "met" if len(treated) == len(risks) else "partial",
            f"{len(treated)} of {len(risks)} risks with a treatment",
            man,
        )
    if kind == "appetite":
        res = b.get("overall_residual")
        if m.risk and m.risk.appetite and res:
            return _fact(
                "met",
                f"appetite declared; overall residual {res.get('level')} "
                f"{res.get('evaluation')} the criterion {res.get('criterion')}",
                bun,
            )
        return _fact("missing", "no risk appetite evaluated (risk.appetite)", man)
    if kind == "controls_pass":
        results = b.get("control_results") or []
        passed = [r for r in results if r.get("passed")]
        if not results:
            return _fact("missing", "no control evaluated", bun)
        state = "met" if len(passed) == len(results) else "partial" if passed else "missing"
        return _fact(state, f"{len(passed)} of {len(results)} controls pass", bun)
    if kind == "impact_assessment":
        ref = src.ref(f"{EVIDENCE}/impact.json")
        return _fact(
            "met" if ref else "missing",
            "signed impact assessment" if ref else "no signed impact assessment (`sei impact`)",
            ref,
        )
    if kind == "data_governance":
        g = b.get("data_governance")
        if g:
            return _fact(
                "met",
                f"data set {g.get('name')} described (Croissant "
                f"{str(g.get('croissant_digest'))[:19]}…)",
                bun,
            )
        return _fact("missing", "no Croissant description of the data (dataset.croissant)", man)
    if kind == "bom":
        bom = b.get("bom") or {}
        n = len(bom.get("components") or [])
        ref = src.ref(f"{EVIDENCE}/bom.cdx.json") or bun
        return _fact(
            "met" if n else "missing",
            f"CycloneDX BOM with {n} components" if n else "no component inventory (BOM)",
            ref,
        )
    if kind == "pipeline_lock":
        digest = b.get("pipeline_lock_digest")
        tool = (b.get("pipeline") or {}).get("tool")
        return _fact(
            "met" if digest else "missing",
            f"{tool} pipeline, lock {digest}" if digest else "no pipeline lock digest",
            bun,
        )
    if kind == "signed_evidence":
        return _fact(
            "met" if src.verified else "missing",
            f"{src.verified_count} signed files verify (key {src.keyid})"
            if src.verified
            else "signatures do not verify",
            src.ref(f"{EVIDENCE}/index.json") or bun,
        )
    if kind == "monitoring_plan":
        post = b.get("post_market_measures") or []
        if post:
            return _fact("met", f"{len(post)} post-market measures declared", bun)
        return _fact("missing", "no post-market measure (lifecycle: [monitoring])", man)
    if kind == "review_interval":
        ri = m.risk.review_interval if m.risk else None
        return _fact(
            "met" if ri else "missing",
            f"review every {ri}" if ri else "no review interval (risk.review_interval)",
            man,
        )
    if kind == "approval":
        lc = src.lifecycle
        if lc.get("state") == "approved" and not lc.get("stale"):
            return _fact("met", f"approved by {lc.get('by')} ({lc.get('date')})", man)
        if lc.get("state") == "approved":
            return _fact(
                "partial",
                f"approval by {lc.get('by')} is stale: "
                f"{lc.get('stale_reason', 'the evidence changed after it')}",
                man,
            )
        return _fact(
            "missing",
            f"no current management approval (lifecycle {lc.get('state')}: `sei approve`)",
            man,
        )
    if kind == "history":
        ref = src.ref(f"{EVIDENCE}/reconstruct.json")
        return _fact(
            "met" if ref else "missing",
            "risk-management cycle rebuilt from git history"
            if ref
            else "no reconstruction of the history (`sei reconstruct`)",
            ref,
        )
    if kind == "dossier":
        if with_dossier or src.index["files"].get(DOSSIER_HTML):
            return _fact(
                "met",
                "technical documentation generated (`sei dossier`)",
                Ref(DOSSIER_HTML, src.index["files"].get(DOSSIER_HTML) or ""),
            )
        return _fact("missing", "no technical documentation (`sei dossier`)", None)
    raise SeiError(f"unknown evidence kind {kind}")


def _citing(src: Sources, cid: str) -> list[dict[str, Any]]:
    """The measures citing ``cid`` (or a sub-control of it), with their result."""
    results = {r.get("control_id"): r for r in src.bundle.get("control_results") or []}
    out = []
    for _risk, measure in src.manifest.manifest.measures:
        refs = [*measure.standard_clauses, *measure.frameworks]
        hit = any(
            r.startswith(f"{STANDARD}#")
            and (r.split("#", 1)[1] == cid or r.split("#", 1)[1].startswith(cid + "."))
            for r in refs
        )
        if not hit:
            continue
        result = results.get(measure.id)
        if result is not None:
            state = "pass" if result.get("passed") else "fail"
        elif measure.evaluation == "manual":
            att = src.attestations.get(measure.id)
            if att is None:
                state = "manual, not attested"
            elif att["current"]:
                state = "pass"  # attested by a person, and the attestation is current
            else:
                state = "manual, attestation stale"
        else:
            state = "declared, not evaluated"
        out.append({"measure": measure.id, "metric": measure.metric, "result": state})
    return out


def statement(src: Sources, with_dossier: bool = False) -> dict[str, Any]:
    """The Statement of Applicability as a signed-document payload."""
    cat = catalogue()
    declared = applicability(src)
    groups = {g["id"]: g["title"] for g in cat["groups"]}
    controls = []
    for c in cat["controls"]:
        decl = declared.get(c["id"], {"applicable": True, "justification": None})
        citing = _citing(src, c["id"])
        facts = [{"kind": k, **evidence_kind(src, k, with_dossier)} for k in c["evidence"]]
        if not decl["applicable"]:
            status, close = "excluded", None
        else:
            states = [f["state"] for f in facts] + [
                "met" if x["result"] == "pass" else "missing" for x in citing
            ]
            if not states:
                status = "not evidenced"
            elif all(s == "met" for s in states):
                status = "implemented"
            elif any(s in ("met", "partial") for s in states):
                status = "partial"
            else:
                status = "not implemented"
            close = _to_close(c["id"], facts, citing, status)
        controls.append(
            {
                "id": c["id"],
                "group": _group(c["id"]),
                "group_title": groups.get(_group(c["id"]), ""),
                "title": c["title"],
                "applicable": decl["applicable"],
                "justification": decl["justification"]
                or (
                    "applicable by default: no exclusion declared (risk.applicability)"
                    if decl["applicable"]
                    else None
                ),
                "justification_declared": decl["justification"] is not None,
                "measures": citing,
                "evidence": facts,
                "status": status,
                "to_close": close,
            }
        )
    counts: dict[str, int] = {}
    for c in controls:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return {
        "standard": STANDARD,
        "clause": "6.1.3",
        "system_name": src.bundle.get("system_name"),
        "evidence_of": src.bundle.get("generated_at"),
        "bundle": {"path": src.bundle_ref.path, "sha256": src.bundle_ref.sha256},
        "manifest": {"path": src.manifest_ref.path, "sha256": src.manifest_ref.sha256},
        "summary": dict(sorted(counts.items())),
        "controls": controls,
    }


def _to_close(
    cid: str, facts: list[dict[str, Any]], citing: list[dict[str, Any]], status: str
) -> str | None:
    """What would move the control to implemented, in words; None when it is."""
    if status == "implemented":
        return None
    if status == "not evidenced":
        return (
            f"a measure citing {STANDARD}#{cid} (an attested manual measure for an "
            f"organisational control), or an exclusion with its justification under "
            f"risk.applicability.{cid}"
        )
    todo = [f["text"] for f in facts if f["state"] != "met"]
    todo += [f"measure {x['measure']}: {x['result']}" for x in citing if x["result"] != "pass"]
    return "; ".join(todo)


def document(src: Sources, with_dossier: bool = False) -> dict[str, Any]:
    """The signed JSON document: the engine's envelope around :func:`statement`."""
    return {
        "schema_version": SCHEMA,
        "kind": "statement-of-applicability",
        "system": src.bundle.get("system_name"),
        "payload": statement(src, with_dossier),
    }
