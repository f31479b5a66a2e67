"""The auditor's dossier: one self-contained HTML document per evidence set (EU AI Act Annex IV,
nine points; the ISO/IEC 42001 Statement of Applicability; a model card; the EU declaration of
conformity draft; open points; the list of signed files), and its PDF.

Same evidence → same bytes: the document's date is the evidence's, the pictures are
deterministic SVG, and nothing reads the clock. Both files, with the Statement of Applicability,
are signed and written into the evidence set in one transaction (see ``evidence_set``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.documents import charts, soa
from sei_assets.core.documents.sources import (
    DOSSIER_HTML,
    DOSSIER_PDF,
    EVIDENCE,
    SOA,
    Ref,
    Sources,
    gather,
)
from sei_assets.core.fsutil import sha256_bytes

ANNEX_IV = (
    ("1", "General description of the AI system"),
    ("2", "Elements of the AI system and its development process"),
    ("3", "Monitoring, functioning and control of the AI system"),
    ("4", "Appropriateness of the performance metrics"),
    ("5", "The risk management system"),
    ("6", "Changes to the system through its lifecycle"),
    ("7", "Harmonised standards and other specifications applied"),
    ("8", "EU declaration of conformity"),
    ("9", "Evaluation of performance after placing on the market"),
)
OPS = {"lt": "<", "le": "≤", "lte": "≤", "gt": ">", "ge": "≥", "gte": "≥", "eq": "="}


@dataclass
class Outcome:
    """What `sei dossier` wrote and what it could not."""

    html: Path
    pdf: Path | None
    soa: Path
    pdf_reason: str | None
    open_points: list[dict[str, Any]] = field(default_factory=list)
    gate: str | None = None


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    """A number of the evidence, or None (a malformed field draws nothing)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def _symbol(op: Any) -> Any:
    """An operator's symbol; a value that names none, as it is."""
    return OPS.get(op, op) if isinstance(op, str) else op


def _op(result: dict[str, Any]) -> str:
    op = str(result.get("operator"))
    return OPS.get(op, op)


def _spans(result: dict[str, Any]) -> bool:
    """Whether the confidence interval of a result reaches across its bound."""
    power = _dict(result.get("power"))
    lo, hi, t = power.get("ci_low"), power.get("ci_high"), result.get("threshold")
    number = int | float
    if not (isinstance(lo, number) and isinstance(hi, number) and isinstance(t, number)):
        return False
    return lo <= t <= hi


def _controls(src: Sources) -> list[dict[str, Any]]:
    measures = {m.id: (r, m) for r, m in src.manifest.manifest.measures}
    rows = []
    for r in src.bundle.get("control_results") or []:
        power = _dict(r.get("power"))
        risk, measure = measures.get(r.get("control_id"), (None, None))
        rows.append(
            {
                "id": r.get("control_id"),
                "metric": r.get("metric_key"),
                "value": f"attested by {r['attestation'].get('by')}"
                if isinstance(r.get("attestation"), dict)
                else _fmt(r.get("actual_value")),
                "bound": f"{_op(r)} {_fmt(r.get('threshold'))}",
                "ci": (
                    f"[{_fmt(power['ci_low'])}, {_fmt(power['ci_high'])}] "
                    f"({_fmt(power.get('ci_level'))}, {power.get('method')}, "
                    f"n_boot {power.get('n_boot')}, seed {power.get('seed')})"
                )
                if "ci_low" in power
                else "no interval reported",
                "n": power.get("n"),
                "groups": power.get("groups") or {},
                "enforcement": r.get("enforcement_mode"),
                "passed": bool(r.get("passed")),
                "spans": _spans(r),
                "underpowered": bool(r.get("underpowered")),
                "risk": r.get("risk_id"),
                "article": r.get("article"),
                "clauses": list(measure.standard_clauses) if measure else [],
                "rationale": risk.rationale if risk else "",
                "why": measure.rationale if measure else "",
                "action": next((t.action for t in risk.treat if measure in t.measures), "")
                if risk
                else "",
            }
        )
    return rows


def _series(src: Sources) -> tuple[list[dict[str, Any]], list[str]]:
    """Each control's value in every committed evidence version and the current one."""
    snaps = [(s.sha[:7], s.bundle) for s in src.history]
    current = src.bundle
    if not snaps or snaps[-1][1].get("generated_at") != current.get("generated_at"):
        snaps.append(("current", current))
    order = [r.get("control_id") for r in current.get("control_results") or []]
    series = []
    for cid in order:
        points: list[dict[str, Any] | None] = []
        last: dict[str, Any] = {}
        for _label, b in snaps:
            hit = next(
                (r for r in b.get("control_results") or [] if r.get("control_id") == cid), None
            )
            if hit is None or not isinstance(hit.get("actual_value"), int | float):
                points.append(None)
                continue
            power = _dict(hit.get("power"))
            points.append(
                {
                    "value": hit["actual_value"],
                    "passed": bool(hit.get("passed")),
                    "ci_low": _num(power.get("ci_low")),
                    "ci_high": _num(power.get("ci_high")),
                }
            )
            last = hit
        if isinstance(last.get("threshold"), int | float):
            series.append(
                {
                    "control_id": cid,
                    "points": points,
                    "threshold": last["threshold"],
                    "operator": _symbol(last.get("operator")),
                }
            )
    return series, [label for label, _b in snaps]


GROUPS_DOC = f"{EVIDENCE}/groups.json"


def _rates(src: Sources, controls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fairness control, each group's rate from the signed per-group document (a field of
    the wrong shape draws nothing), with the bound and the control's verdict."""
    doc = _dict(src.docs.get(GROUPS_DOC, {}).get("payload"))
    groups = [g for g in doc.get("groups") or [] if isinstance(g, dict)]
    verdicts = {c["id"]: c for c in controls}
    panels = []
    for c in doc.get("controls") or []:
        if not isinstance(c, dict) or not isinstance(c.get("rate"), str):
            continue
        floor = _num(c.get("lowest_allowed"))
        strict = c.get("operator") in ("lt", "gt")  # the gap itself may not reach the bound
        rows = []
        for g in groups:
            value = _num(_dict(g.get("rates")).get(c["rate"]))
            if value is not None and isinstance(g.get("group"), str):
                below = floor is not None and (value < floor or (strict and value == floor))
                count = g.get("count")
                rows.append({"group": g["group"], "value": value, "count": count, "below": below})
        if len(rows) < 2:
            continue
        control = verdicts.get(c.get("control_id"), {})
        panels.append(
            {
                "control_id": str(c.get("control_id")),
                "rate": c["rate"],
                "metric": c.get("metric_key"),
                "kind": c.get("kind"),
                "bound": f"{c.get('metric_key')} {_symbol(c.get('operator'))} "
                f"{_fmt(c.get('threshold'))}",
                "lowest_allowed": floor,
                "strict": strict,
                "groups": rows,
                "passed": control.get("passed"),
                "note": c.get("note") if isinstance(c.get("note"), str) else None,
            }
        )
    return panels


def _timeline(src: Sources) -> list[dict[str, Any]]:
    events = [
        {
            "kind": "evidence",
            "sha": s.sha,
            "date": s.date,
            "label": f"gate {s.bundle.get('gate')}",
            "subject": s.subject,
        }
        for s in src.history
    ]
    rec = src.docs.get(f"{EVIDENCE}/reconstruct.json", {}).get("payload", {})
    for arc in rec.get("treatment_arcs") or []:
        t = arc.get("treatment") or {}
        if t.get("sha"):
            events.append(
                {
                    "kind": "treatment",
                    "sha": t["sha"],
                    "date": t.get("date", ""),
                    "label": f"{arc.get('control_id')} FAIL→PASS",
                    "subject": t.get("subject", ""),
                }
            )
    for d in src.decisions:
        events.append(
            {
                "kind": "decision",
                "sha": d["sha"],
                "date": d["date"],
                "label": f"{d['kind']} by {d['by'].split('<')[0].strip()}",
                "subject": d.get("subject", ""),
            }
        )
    return sorted(
        events, key=lambda e: (e["date"], ["evidence", "treatment", "decision"].index(e["kind"]))
    )


def open_points(src: Sources, soa_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What an auditor will ask for and the evidence does not give: each with its kind, the
    fact, the file it comes from, and what would close it."""
    b, bun, man = src.bundle, src.bundle_ref, src.manifest_ref
    points: list[dict[str, Any]] = []

    def add(kind: str, text: str, ref: Ref | None, close: str) -> None:
        points.append({"kind": kind, "text": text, "source": ref, "close": close})

    for r in b.get("control_results") or []:
        if not r.get("passed") and r.get("enforcement_mode") == "block":
            add(
                "gate",
                f"blocking control {r.get('control_id')} fails: {_fmt(r.get('actual_value'))}"
                f" against {OPS.get(r.get('operator'), r.get('operator'))} "
                f"{_fmt(r.get('threshold'))}; the gate is red",
                bun,
                "a treatment that makes it pass, recorded in a new run (`sei run`)",
            )
    for r in b.get("control_results") or []:
        if not r.get("passed") and r.get("enforcement_mode") != "block":
            add(
                "warning",
                f"audit control {r.get('control_id')} fails "
                f"({_fmt(r.get('actual_value'))} against "
                f"{OPS.get(r.get('operator'), r.get('operator'))} {_fmt(r.get('threshold'))})",
                bun,
                "a treatment, or a recorded acceptance of the finding",
            )
    for r in b.get("control_results") or []:
        if r.get("passed") and (_spans(r) or r.get("underpowered")):
            p = _dict(r.get("power"))
            add(
                "underpowered",
                f"control {r.get('control_id')} passes, but its "
                f"{_fmt(p.get('ci_level'))} interval [{_fmt(p.get('ci_low'))}, "
                f"{_fmt(p.get('ci_high'))}] reaches across the bound {_fmt(r.get('threshold'))}",
                bun,
                "more evaluation records (a larger held-out set) or a declared acceptance",
            )
    for _risk, m in src.manifest.manifest.measures:
        if m.evaluation != "manual":
            continue
        att = src.attestations.get(m.id)
        close = f'`sei attest {m.id} --by "Name <email>" --evidence FILE`'
        if att is None:
            add(
                "manual",
                f"manual measure {m.id} ({m.metric}) has no attestation by a person",
                man,
                close,
            )
        elif not att["current"]:
            add(
                "manual",
                f"the attestation of {m.id} by {att['by']} ({att['at']}) is stale: "
                f"{'; '.join(att['why_stale'])}",
                src.ref(att["file"]),
                close + " again",
            )
    lc = src.lifecycle
    if lc.get("state") == "approved" and lc.get("stale"):
        add(
            "approval",
            f"the approval by {lc.get('by')} ({lc.get('date')}) is stale: "
            f"{lc.get('stale_reason', 'the evidence changed after it')}",
            man,
            "a new approval of the current evidence (`sei approve`)",
        )
    elif lc.get("state") != "approved":
        add(
            "approval",
            f"no management approval (lifecycle: {lc.get('state')})",
            man,
            "`sei request` then `sei approve` (with --accept-residual for a red gate)",
        )
    for ref, doc in src.conformance():
        gaps = [c for c in doc["payload"].get("clauses") or [] if c.get("decision") == "gap"]
        if gaps:
            ids = ", ".join(str(c.get("clause_id")) for c in gaps)
            add(
                "clause gap",
                f"{doc['payload'].get('standard')}: {len(gaps)} clauses in gap ({ids})",
                ref,
                "see the clause table of point 7: a measure citing the clause, "
                "or the criterion its basis names",
            )
    for ref, month in src.summaries:
        totals = _dict(month.get("totals"))
        triggered = totals.get("triggered_breaches") or []
        if triggered:
            add(
                "post-market",
                f"{month.get('month')}: breaches that fire their trigger: "
                f"{', '.join(str(x) for x in triggered)}",
                ref,
                "a new evidence set that treats them (`sei run`), or the residual accepted "
                "by management at release",
            )
        if totals.get("deadlines_missed"):
            add(
                "post-market",
                f"{month.get('month')}: {totals['deadlines_missed']} serious-incident report "
                "deadline(s) missed (Art. 73)",
                ref,
                "the report filed (`sei incident update --reported-at`) and the cause recorded",
            )
    for rel, what in (
        (f"{EVIDENCE}/reconstruct.json", "`sei reconstruct`"),
        (f"{EVIDENCE}/impact.json", "`sei impact`"),
    ):
        if src.ref(rel) is None:
            add("missing", f"no signed {rel.removeprefix(EVIDENCE + '/')}", None, what)
    if not src.conformance():
        add("missing", "no signed conformance projection", None, "`sei conformance`")
    if not src.verified:
        add(
            "signature",
            f"{len(src.verify_failures)} evidence files do not verify",
            None,
            "regenerate the evidence (`sei run`) and find who changed it",
        )
    for w in src.verify_warnings:
        add("warning", w, None, "see `sei verify`")
    if (b.get("pipeline") or {}).get("metrics_source") == "supplied":
        add(
            "warning",
            "the metrics were supplied (`sei run --no-repro`), not reproduced by the pipeline tool",
            bun,
            "`sei run` (reproduces the pipeline)",
        )
    for f in src.docs.get(f"{EVIDENCE}/impact.json", {}).get("payload", {}).get("findings") or []:
        add(
            "impact",
            f"impact finding ({f.get('severity')}): {f.get('message')}",
            src.ref(f"{EVIDENCE}/impact.json"),
            "a risk addressing it, or a documented reason",
        )
    n_open = sum(
        1
        for c in soa_doc["payload"]["controls"]
        if c["status"] in ("not implemented", "not evidenced")
    )
    if n_open:
        add(
            "soa",
            f"{n_open} ISO/IEC 42001 Annex A controls are not implemented or not evidenced",
            None,
            "see the Statement of Applicability: a citing measure, the "
            "missing evidence, or a justified exclusion",
        )
    return points


def declaration(src: Sources) -> dict[str, Any]:
    """The EU declaration of conformity (Annex V) as far as the evidence fills it; a draft
    until the gate is green with a current approval, or a current approval accepts the
    residual risk of a red gate."""
    m = src.manifest.manifest
    b = src.bundle
    lc = src.lifecycle
    approved = lc.get("state") == "approved" and not lc.get("stale")
    accepted = approved and any(
        d["kind"] == "approve" and d.get("residual_accepted") and d["sha"] == lc.get("sha")
        for d in src.decisions
    )
    green = b.get("gate") == "green"
    final = approved and (green or accepted)
    why = []
    if not green and not accepted:
        why.append(f"the gate is {b.get('gate')} and no current approval accepts the residual risk")
    if not approved:
        why.append("no current management approval" + (" (stale)" if lc.get("stale") else ""))
    conformance = [doc["payload"].get("standard") for _r, doc in src.conformance()]
    fields = [
        (
            "1",
            "AI system name, type and any other reference identifying it",
            f"{m.system.name} version {m.system.version or '(no version declared)'}; evidence of "
            f"{b.get('generated_at')}, code {str((b.get('triple') or {}).get('code'))[:12]}",
            True,
        ),
        (
            "2",
            "Name and address of the provider",
            f"{m.system.organization or 'name not declared (system.organization)'}; "
            + (
                m.system.provider_address
                if m.system.provider_address
                else "not in the evidence: declare system.provider_address to fill the address"
            ),
            bool(m.system.organization and m.system.provider_address),
        ),
        (
            "3",
            "Statement that the declaration is issued under the provider's sole responsibility",
            "to be made by the provider when signing; this engine does not make it",
            False,
        ),
        (
            "4",
            "Statement that the AI system conforms to the Regulation",
            "the evidence supports it: gate green"
            if green
            else f"not supported by the evidence: gate {b.get('gate')}",
            green,
        ),
        (
            "5",
            "Statement of compliance with data protection law where personal data are processed",
            "not in the evidence: the provider's data protection assessment would fill it",
            False,
        ),
        (
            "6",
            "Harmonised standards or common specifications applied",
            ", ".join(conformance)
            if conformance
            else "no conformance projection signed (`sei conformance`)",
            bool(conformance),
        ),
        (
            "7",
            "Notified body, conformity assessment procedure and certificate",
            _notified(m.system.notified_body),
            m.system.notified_body is not None,
        ),
        (
            "8",
            "Place and date of issue, name and function of the signatory, signature",
            f"approved by {lc.get('by')} on {lc.get('date')}"
            if approved
            else "no current approval to date and sign it",
            approved,
        ),
    ]
    return {
        "status": "final" if final else "draft",
        "why_draft": why,
        "fields": [{"point": p, "field": f, "value": v, "filled": ok} for p, f, v, ok in fields],
    }


def _notified(body: Any) -> str:
    """Annex V point 7 from the manifest's notified body, or what would fill it."""
    if body is None:
        return (
            "not in the evidence: no notified body is recorded; declare system.notified_body "
            "(name, number, procedure, certificate) to fill it"
        )
    parts = [body.name + (f" (number {body.number})" if body.number else "")]
    parts.append(f"procedure: {body.procedure}" if body.procedure else "procedure not declared")
    parts.append(
        f"certificate: {body.certificate}" if body.certificate else "certificate not declared"
    )
    return "; ".join(parts)


def _post_market(src: Sources) -> list[dict[str, Any]]:
    rows = []
    for _risk, m in src.manifest.manifest.measures:
        if not m.is_post_market:
            continue
        plan = m.plan
        rows.append(
            {
                "id": m.id,
                "metric": m.metric,
                "constraint": m.constraint,
                "article": m.article,
                "evaluation": m.evaluation,
                "trigger": plan.trigger if plan else None,
                "frequency": plan.frequency if plan else None,
                "threshold": plan.metric_threshold if plan else None,
                "citation": plan.art72_citation if plan else None,
                "complete": bool(plan and plan.complete),
            }
        )
    return rows


def _oversight(src: Sources) -> list[dict[str, Any]]:
    rows = []
    for risk, m in src.manifest.manifest.measures:
        if m.article == "14" or "oversight" in m.metric or m.evaluation == "manual":
            rows.append(
                {
                    "id": m.id,
                    "metric": m.metric,
                    "risk": risk.id,
                    "attestation": src.attestations.get(m.id),
                    "attestation_ref": src.ref(att["file"])
                    if (att := src.attestations.get(m.id))
                    else None,
                    "evaluation": m.evaluation,
                    "constraint": m.constraint,
                    "action": next((t.action for t in risk.treat if m in t.measures), ""),
                }
            )
    return rows


def context(src: Sources, soa_doc: dict[str, Any], soa_ref: Ref) -> dict[str, Any]:
    """Everything the template shows, with the file each part comes from."""
    from sei_assets.core.documents.gaps import open_clauses
    from sei_assets.core.knowledge import metric_domain

    b = src.bundle
    m = src.manifest.manifest
    controls = _controls(src)
    series, versions = _series(src)
    analysis = b.get("risk_analysis") or []
    fairness = [{"control_id": c["id"], "groups": c["groups"]} for c in controls if c["groups"]]
    rates = _rates(src, controls)
    rec_ref = src.ref(f"{EVIDENCE}/reconstruct.json")
    rec = src.docs.get(f"{EVIDENCE}/reconstruct.json", {}).get("payload")
    impact_ref = src.ref(f"{EVIDENCE}/impact.json")
    timeline = _timeline(src)
    points = open_points(src, soa_doc)
    domains = {c["metric"]: metric_domain(c["metric"]) for c in controls if c["metric"]}
    risks = {r.id: r for r in (m.risk.risks if m.risk else [])}
    # the SoA signature is made anew with the document (ECDSA is randomised): not listed
    listing = [src.ref(rel) for rel in sorted({*src.files, soa_ref.path})]
    return {
        "system": m.system,
        "m": m,
        "b": b,
        "src": src,
        "annex": ANNEX_IV,
        "bun": src.bundle_ref,
        "man": src.manifest_ref,
        "bom_ref": src.ref(f"{EVIDENCE}/bom.cdx.json") or src.bundle_ref,
        "rec_ref": rec_ref,
        "rec": rec,
        "impact_ref": impact_ref,
        "impact": src.docs.get(f"{EVIDENCE}/impact.json", {}).get("payload"),
        "controls": controls,
        "domains": {k: (v.describe() if v else None) for k, v in domains.items()},
        "risks": risks,
        "analysis": analysis,
        "conformance": src.conformance(),
        "closing": {
            doc["payload"].get("standard"): {g["clause"]: g["to_close"] for g in open_clauses(doc)}
            for _r, doc in src.conformance()
        },
        "soa": soa_doc["payload"],
        "soa_ref": soa_ref,
        "declaration": declaration(src),
        "post_market": _post_market(src),
        "months": src.summaries,
        "oversight": _oversight(src),
        "timeline": timeline,
        "points": points,
        "listing": [r for r in listing if r is not None],
        "lifecycle": src.lifecycle,
        "decisions": src.decisions,
        "history": src.history,
        "chart_controls": charts.controls_over_versions(series, versions) if series else None,
        "chart_matrix": charts.risk_matrix(analysis) if analysis else None,
        "chart_groups": charts.group_sizes(fairness) if fairness else None,
        "rates": rates,
        "rates_ref": src.ref(GROUPS_DOC),
        "rates_source": _dict(_dict(src.docs.get(GROUPS_DOC, {}).get("payload")).get("source")),
        "chart_rates": charts.group_rates(rates) if rates else None,
        "chart_timeline": charts.timeline(timeline) if timeline else None,
        "fmt": _fmt,
    }


def render_html(ctx: dict[str, Any]) -> bytes:
    """The dossier's HTML, from the shipped template."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sei_assets.core.documents", "templates"),
        autoescape=True,
        undefined=jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    html = env.get_template("dossier.html.j2").render(**ctx)
    return html.encode("utf-8")


def build(repo: Path, pdf: bool = True, key: Any = None) -> Outcome:
    """`sei dossier`: the Statement of Applicability, the HTML dossier and (where Chromium is
    there) its PDF, signed and written into the evidence set in one transaction."""
    from sei_assets.core import evidence_set, runlock, signing
    from sei_assets.core.evidence import dump

    repo = Path(repo).resolve()
    with runlock.repo_lock(repo):
        src = gather(repo)
        soa_doc = soa.document(src, with_dossier=True)
        soa_bytes = dump(soa_doc)
        key = key or signing.load_or_create_key()
        soa_sig = signing.sign_bytes(soa_bytes, "soa.json", key)
        src.extra[SOA] = Ref(SOA, sha256_bytes(soa_bytes))
        src.extra[SOA + ".sig"] = Ref(SOA + ".sig", sha256_bytes(soa_sig))
        ctx = context(src, soa_doc, src.extra[SOA])
        html = render_html(ctx)
        files = {
            SOA: soa_bytes,
            SOA + ".sig": soa_sig,
            DOSSIER_HTML: html,
            DOSSIER_HTML + ".sig": signing.sign_bytes(html, "dossier/dossier.html", key),
            f"{EVIDENCE}/{signing.PUBKEY_FILE}": (signing.public_key_hex(key) + "\n").encode(),
        }
        pdf_bytes: bytes | None = None
        reason: str | None = "not asked for (--no-pdf)"
        if pdf:
            from sei_assets.core.documents.pdf import render_pdf

            pdf_bytes, reason = render_pdf(html, src.bundle.get("generated_at"))
        remove: tuple[str, ...] = ()
        if pdf_bytes is not None:
            files[DOSSIER_PDF] = pdf_bytes
            files[DOSSIER_PDF + ".sig"] = signing.sign_bytes(pdf_bytes, "dossier/dossier.pdf", key)
        else:  # an older PDF would not match this HTML: it leaves the set
            remove = (DOSSIER_PDF, DOSSIER_PDF + ".sig")
        evidence_set.commit(repo, files, key, remove=remove)
    return Outcome(
        html=repo / DOSSIER_HTML,
        pdf=repo / DOSSIER_PDF if pdf_bytes is not None else None,
        soa=repo / SOA,
        pdf_reason=None if pdf_bytes is not None else reason,
        open_points=ctx["points"],
        gate=src.bundle.get("gate"),
    )


def write_soa(repo: Path, key: Any = None) -> tuple[dict[str, Any], Path]:
    """`sei soa`: the Statement of Applicability alone, signed into the evidence set."""
    from sei_assets.core import signing
    from sei_assets.core.evidence import dump, write_signed

    repo = Path(repo).resolve()
    src = gather(repo, history=False)
    doc = soa.document(src)
    write_signed(repo / SOA, dump(doc), key or signing.load_or_create_key())
    return doc, repo / SOA
