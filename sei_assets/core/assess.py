"""Assess: propose risks the manifest does not declare, from a knowledge catalogue (data).

Offline and deterministic. The facts are the manifest's task type and modality, its
classification tier, its domain of use (EU AI Act Annex III category, inferred from the
classification basis and the purpose keywords of ``knowledge/risk_catalogue.yaml``) and the
metrics already measured (manifest measures and the bundle's control results). Each proposal
is a risk in the manifest's own schema, with why it applies; a proposal is skipped when a
declared risk covers it: same id, or same domain measuring one of its metrics (on the same
protected dimension when the proposal names one), or every metric it suggests already measured.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.evidence import dump, write_signed
from sei_assets.core.layout import EVIDENCE_DIR
from sei_assets.core.manifest import LoadedManifest, Manifest
from sei_assets.core.model import BacklogDoc, Bundle
from sei_assets.core.model.bundle import as_bundle

SCHEMA_VERSION = 1
KIND = "risk_backlog"
BACKLOG_FILE = "risk_backlog.json"
SNIPPET_FILE = "risk_backlog.yaml"
CONDITIONS = ("categories", "task_types", "modalities", "metrics", "tiers")
#: The keys of a proposal that are the manifest's risk schema (what the YAML snippet holds).
RISK_KEYS = ("id", "title", "domain", "rationale", "impact", "likelihood", "treat")


def knowledge() -> dict[str, Any]:
    """The risk catalogue (categories and risks), validated and parsed once."""
    from sei_assets.core.knowledge import risk_catalogue

    return risk_catalogue()


def _texts(m: Manifest) -> list[tuple[str, str]]:
    out = [("system.intended_purpose", m.system.intended_purpose)]
    out += [("system.decisions", d) for d in m.system.decisions]
    out += [("system.affected_persons", p) for p in m.system.affected_persons]
    if m.classification:
        out.append(("classification.rationale", m.classification.rationale))
    return out


def infer_categories(m: Manifest) -> list[dict[str, Any]]:
    """The domains of use the manifest's facts point to, each with the facts that matched."""
    found = []
    basis = m.classification.basis if m.classification else []
    for cat in knowledge()["categories"]:
        why: list[str] = []
        for text in basis:
            if any(re.search(p, text, re.IGNORECASE) for p in cat.get("basis_patterns", [])):
                why.append(f"classification.basis: {text!r}")
        for where, text in _texts(m):
            for kw in cat.get("keywords", []):
                if re.search(rf"\b{re.escape(kw)}(e?s)?\b", text, re.IGNORECASE):
                    why.append(f"{where} mentions {kw!r}")
                    break
        if why:
            found.append(
                {
                    "id": cat["id"],
                    "title": cat["title"],
                    "annex_iii": cat.get("annex_iii"),
                    "matched": sorted(set(why)),
                }
            )
    return found


def measured_metrics(m: Manifest, bundle: Bundle | dict[str, Any] | None) -> list[str]:
    """Every metric the manifest declares or the bundle evaluated, sorted."""
    metrics = {x.metric for _r, x in m.measures}
    bundle = as_bundle(bundle)
    for r in bundle.control_results if bundle else []:
        if r.metric_key:
            metrics.add(r.metric_key)
    return sorted(metrics)


def _facts(m: Manifest, bundle: Bundle | dict[str, Any] | None) -> dict[str, Any]:
    return {
        "task_type": m.task.type,
        "modality": m.task.modality,
        "tier": m.classification.tier if m.classification else None,
        "categories": infer_categories(m),
        "metrics": measured_metrics(m, bundle),
        "declared_risks": [r.id for r in (m.risk.risks if m.risk else [])],
    }


def _why(entry: dict[str, Any], facts: dict[str, Any]) -> list[str] | None:
    """The facts that make ``entry`` apply, or None when one of its conditions fails."""
    when = entry.get("when") or {}
    cats = {c["id"]: c for c in facts["categories"]}
    have = {
        "categories": set(cats),
        "task_types": {facts["task_type"]} - {None},
        "modalities": {facts["modality"]} - {None},
        "metrics": set(facts["metrics"]),
        "tiers": {facts["tier"]} - {None},
    }
    labels = {
        "categories": "domain of use",
        "task_types": "task.type",
        "modalities": "task.modality",
        "metrics": "already measured",
        "tiers": "classification.tier",
    }
    why = []
    for cond in CONDITIONS:
        if cond not in when:
            continue
        hits = [v for v in when[cond] if v in have[cond]]
        if not hits:
            return None
        for v in hits:
            if cond == "categories":
                c = cats[v]
                annex = f" (Annex III {c['annex_iii']})" if c.get("annex_iii") else ""
                why += [f"domain of use {v}{annex}: {fact}" for fact in c["matched"]]
            else:
                why.append(f"{labels[cond]}: {v}")
    return why


def _dimension(measure: dict[str, Any]) -> str | None:
    return (measure.get("inputs") or {}).get("dimension")


def _covers(declared: list[tuple[str, str, str, str | None]], measure: dict[str, Any]) -> list[Any]:
    """Declared (risk id, domain, metric, dimension) entries that already measure ``measure``."""
    dim = _dimension(measure)
    return [d for d in declared if d[2] == measure["metric"] and (dim is None or d[3] == dim)]


def _skip_reason(entry: dict[str, Any], m: Manifest, taken: dict[str, str]) -> str | None:
    """Why ``entry`` is not proposed (a declared risk or an earlier proposal covers it), or None."""
    risks = m.risk.risks if m.risk else []
    if any(r.id == entry["id"] for r in risks):
        return "declared in the manifest"
    measures = [x for t in entry.get("treat", []) for x in t.get("measures", [])]
    declared = [
        (r.id, r.domain, x.metric, x.inputs.get("dimension")) for r in risks for x in r.measures
    ]
    for x in measures:
        hit = [d for d in _covers(declared, x) if d[1] == entry["domain"]]
        if hit:
            return f"covered by declared risk {hit[0][0]} ({entry['domain']}, {x['metric']})"
    if measures and all(_covers(declared, x) for x in measures):
        return "every suggested metric is already measured by a declared risk"
    for x in measures:
        key = f"{entry['domain']}:{x['metric']}:{_dimension(x)}"
        if key in taken:
            return f"same domain and metric as proposal {taken[key]}"
    return None


def _proposal(entry: dict[str, Any], why: list[str], used: set[str]) -> dict[str, Any]:
    risk = {k: copy.deepcopy(entry[k]) for k in RISK_KEYS if k in entry}
    for treat in risk.get("treat", []):
        for x in treat.get("measures", []):
            while x["id"] in used:
                x["id"] = f"{x['id']}-proposed"
            used.add(x["id"])
    return {**risk, "why": why}


def assess(loaded: LoadedManifest, bundle: Bundle | dict[str, Any] | None) -> dict[str, Any]:
    """The risk backlog: undeclared risks proposed from the catalogue (kind ``risk_backlog``)."""
    m = loaded.manifest
    facts = _facts(m, bundle)
    candidates = []
    for index, entry in enumerate(knowledge()["risks"]):
        why = _why(entry, facts)
        if why is not None:
            specificity = sum(1 for c in ("categories", "metrics") if c in entry.get("when", {}))
            candidates.append((-specificity, -len(entry.get("when", {})), index, entry, why))
    candidates.sort(key=lambda c: c[:3])
    used = {x.id for _r, x in m.measures}
    taken: dict[str, str] = {}
    proposals, skipped = [], []
    for *_order, entry, why in candidates:
        reason = _skip_reason(entry, m, taken)
        if reason:
            skipped.append({"id": entry["id"], "reason": reason})
            continue
        for x in [x for t in entry.get("treat", []) for x in t.get("measures", [])]:
            taken[f"{entry['domain']}:{x['metric']}:{_dimension(x)}"] = entry["id"]
        proposals.append(_proposal(entry, why, used))
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "system": m.system.name,
        "payload": {"facts": facts, "proposals": proposals, "skipped": skipped},
    }


def snippet(doc: dict[str, Any]) -> str:
    """The proposals as YAML to paste under ``risk.risks`` of the manifest (comments say why)."""
    lines = [
        f"# Risks proposed by `sei assess` for {doc['system']}, from the offline catalogue.",
        "# Review and adjust each one, then paste the entries under `risk: risks:`.",
    ]
    for p in doc["payload"]["proposals"]:
        lines.append("")
        lines += [f"# why: {w}" for w in p["why"]]
        risk = {k: p[k] for k in RISK_KEYS if k in p}
        text = yaml.safe_dump([risk], sort_keys=False, allow_unicode=True, width=100)
        lines += text.rstrip("\n").split("\n")
    if not doc["payload"]["proposals"]:
        lines.append("[]")
    return "\n".join(lines) + "\n"


def write_backlog(repo: Path, doc: dict[str, Any], key: Any) -> Path:
    """Write ``.sei/risk_backlog.json`` (+ signature) and ``.sei/risk_backlog.yaml``."""
    from sei_assets.core import signing

    out = Path(repo) / EVIDENCE_DIR
    target = out / BACKLOG_FILE
    write_signed(
        target,
        dump(BacklogDoc.model_validate(doc)),
        key,
        extra={SNIPPET_FILE: snippet(doc).encode("utf-8")},
    )
    signing.write_pubkey(out, key)
    return target
