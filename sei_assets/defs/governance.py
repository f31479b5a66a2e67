"""Governance assets of one system: risk cycle, conformance per standard (and an overview
across standards), impact, backlog.

Each is signed and downstream of what it reads: the evidence bundle, never the gate's
checks, so a red gate still shows its gaps here. They are specs of the system's one
multi-asset (system.py, each spec with its own automation), computed in its step after the
gate's checks and before the release, so a system costs no definition here.
"""

from typing import Any, cast

import dagster as dg

from sei_assets import __version__
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import EAGER
from sei_assets.defs.keys import check_name, system_key
from sei_assets.defs.metadata import signed_file
from sei_assets.defs.resources import SeiSettings


class Governance:
    """The governance assets of one system: their specs, and their results for a selection."""

    def __init__(self, entry: SystemEntry, standards: list[str]) -> None:
        from sei_assets.core.conformance import standard_slug

        self.entry = entry
        self.by_standard = {self.key("conformance", standard_slug(s)): s for s in standards}

    def key(self, *leaf: str) -> dg.AssetKey:
        return system_key(self.entry.name, *leaf)

    def _spec(self, asset_key: dg.AssetKey, deps: list[str], description: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            asset_key,
            deps=[self.key(d) for d in deps],
            description=description,
            group_name=self.entry.name,
            code_version=__version__,
            kinds={"json"},
            automation_condition=EAGER,
        )

    def specs(self) -> list[dg.AssetSpec]:
        """risk_cycle, one conformance asset per applicable standard (and an overview),
        impact_assessment and risk_backlog."""
        key, spec = self.key, self._spec
        return [
            spec(
                key("risk_cycle"),
                ["evidence_bundle"],
                "The risk-management cycle rebuilt from git history (reconstruct).",
            ),
            *[
                spec(k, ["evidence_bundle"], f"The evidence projected onto {s}'s clause catalogue.")
                for k, s in self.by_standard.items()
            ],
            *(
                [
                    spec(
                        key("conformance_overview"),
                        ["evidence_bundle"],
                        "Covered / partial / gap clause counts of every applicable standard.",
                    )
                ]
                if self.by_standard
                else []
            ),
            spec(
                key("impact_assessment"),
                ["manifest", "assessment_plan"],
                "Impact and foreseeable misuse (ISO/IEC 42001 6.1.4, AI Act Art. 27).",
            ),
            self._dossier_spec(),
            spec(
                key("risk_backlog"),
                ["manifest", "assessment_plan"],
                "Risks the manifest does not declare, proposed from the knowledge catalogue "
                "(assess).",
            ),
        ]

    def _dossier_spec(self) -> dg.AssetSpec:
        """The auditor's dossier: downstream of the evidence and every governance document
        it reads (materialized on a red gate too: its open points say why it is red)."""
        deps = ["evidence_bundle", "risk_cycle", "impact_assessment"]
        spec = self._spec(
            self.key("dossier"),
            deps,
            "The auditor's dossier (Annex IV, ISO/IEC 42001 SoA, model card, declaration of "
            "conformity draft, open points): offline HTML and PDF, signed in the evidence set.",
        )
        extra = [dg.AssetDep(k) for k in self.by_standard]
        return spec.replace_attributes(deps=[*spec.deps, *extra], kinds={"html", "pdf"})

    def check_specs(self) -> list[dg.AssetCheckSpec]:
        """One check per conformance asset, `no_gaps_in_<standard>` (WARN: a gap shows amber,
        never blocks)."""
        return [
            dg.AssetCheckSpec(
                gaps_check_name(asset_key),
                asset=asset_key,
                blocking=False,
                description=f"no gaps in {standard}",
            )
            for asset_key, standard in self.by_standard.items()
        ]

    def results(
        self,
        selected: set[dg.AssetKey],
        repo: Any,
        sei: SeiSettings,
        checks: set[dg.AssetCheckKey] | None = None,
    ):
        """The materializations of the selected governance assets, each signed, and the
        selected `no_gaps_in_<standard>` checks."""
        key = self.key
        checks = checks or set()
        if key("risk_cycle") in selected:
            yield _risk_cycle(key("risk_cycle"), repo, sei)
        overview = key("conformance_overview") in selected
        docs = {}
        for asset_key, standard in self.by_standard.items():
            check_key = dg.AssetCheckKey(asset_key, gaps_check_name(asset_key))
            if asset_key in selected or overview or check_key in checks:
                doc, result = _conformance(asset_key, repo, standard, sei)
                docs[standard] = doc
                if asset_key in selected:
                    yield result
                if check_key in checks:
                    yield _gaps_check(check_key, standard, doc)
        if overview:
            yield _overview(key("conformance_overview"), docs)
        if key("impact_assessment") in selected:
            yield _impact(key("impact_assessment"), repo, sei)
        if key("risk_backlog") in selected:
            yield _backlog(key("risk_backlog"), repo, sei)
        if key("dossier") in selected:  # last: it reads the documents written above
            yield _dossier(key("dossier"), repo, sei)


def gaps_check_name(asset_key: dg.AssetKey) -> str:
    """`no_gaps_in_<standard slug>`."""
    return check_name(f"no_gaps_in_{asset_key.path[-1]}")


def _gaps_check(check_key: dg.AssetCheckKey, standard: str, doc: dict) -> dg.AssetCheckResult:
    """Whether a standard's projection has a clause decided `gap` (WARN, amber)."""
    clauses = doc["payload"]["clauses"]
    gaps = [c["clause_id"] for c in clauses if c["decision"] == "gap"]
    return dg.AssetCheckResult(
        asset_key=check_key.asset_key,
        check_name=check_key.name,
        passed=not gaps,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(gaps)} gap(s) in {standard}: {', '.join(gaps)}"
            if gaps
            else f"no gaps in {standard}"
        ),
        metadata={"gaps": len(gaps), "clauses": ", ".join(gaps) or "none"},
    )


def _risk_cycle(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.engine import reconstruct_cycle

    doc, path = reconstruct_cycle(repo, key=sei.key())
    payload = doc["payload"]
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "status": f"lifecycle {payload['lifecycle']['state']}: "
            f"{len(payload['snapshots'])} evidence snapshot(s), "
            f"{len(payload.get('treatment_arcs', []))} treatment arc(s)",
            **signed_file(path, repo),
            "lifecycle": payload["lifecycle"]["state"],
            "snapshots": len(payload["snapshots"]),
            "treatment_arcs": len(payload.get("treatment_arcs", [])),
        },
    )


CLAUSE_COLUMNS = ("clause", "title", "decision", "basis", "measures")
DECISIONS = ("covered", "covered_attested", "partial", "gap")


def _conformance(
    asset_key: dg.AssetKey, repo: Any, standard: str, sei: SeiSettings
) -> tuple[dict, dg.MaterializeResult]:
    from sei_assets.core.engine import project_conformance

    ((doc, path),) = project_conformance(repo, [standard], key=sei.key())
    clauses = doc["payload"]["clauses"]
    counts = _counts(clauses)
    table = dg.MetadataValue.table(
        [
            dg.TableRecord(
                {
                    "clause": c["clause_id"],
                    "title": c["title"],
                    "decision": c["decision"],
                    "basis": c.get("basis") or "—",
                    "measures": ", ".join(c["measures"]) or "—",
                }
            )
            for c in clauses
        ],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in CLAUSE_COLUMNS]),
    )
    gaps = [c["clause_id"] for c in clauses if c["decision"] == "gap"]
    status = ", ".join(f"{n} {d}" for d, n in counts.items() if n)
    return doc, dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "status": f"{standard}: {status}" + (f" (gaps: {', '.join(gaps)})" if gaps else ""),
            "clauses": table,
            **counts,
            **signed_file(path, repo),
        },
    )


def _counts(clauses: list[dict]) -> dict[str, int]:
    counts = dict.fromkeys(DECISIONS, 0)
    for c in clauses:
        counts[c["decision"]] = counts.get(c["decision"], 0) + 1
    return counts


def _overview(asset_key: dg.AssetKey, docs: dict[str, dict]) -> dg.MaterializeResult:
    columns = ("standard", *DECISIONS, "clauses")
    records = []
    for standard, doc in docs.items():
        counts = _counts(doc["payload"]["clauses"])
        records.append(
            dg.TableRecord({"standard": standard, **counts, "clauses": sum(counts.values())})
        )
    schema = dg.TableSchema(
        columns=[dg.TableColumn("standard", "string")]
        + [dg.TableColumn(c, "int") for c in columns[1:]]
    )
    totals = {d: sum(cast(int, r.data[d]) for r in records) for d in DECISIONS}
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "status": f"{len(records)} standards: "
            + ", ".join(f"{n} {d}" for d, n in totals.items() if n),
            "standards": dg.MetadataValue.table(records, schema=schema),
            **{f"total/{d}": n for d, n in totals.items()},
        },
    )


def _impact(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.engine import assess_impact

    doc, path = assess_impact(repo, key=sei.key())
    payload = doc["payload"]
    findings = payload.get("findings", [])
    table = dg.MetadataValue.table(
        [
            dg.TableRecord(
                {k: str(f.get(k, "")) for k in ("kind", "severity", "subject", "message")}
            )
            for f in findings
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn(c, "string") for c in ("kind", "severity", "subject", "message")
            ]
        ),
    )
    misuses = payload.get("misuses", [])
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "status": (
                f"{len(findings)} finding(s): " + "; ".join(f["message"] for f in findings)
                if findings
                else "no finding: every foreseeable misuse is addressed by a declared risk"
            ),
            "findings": table,
            "finding_count": len(findings),
            "misuses": ", ".join(
                f"{x['id']} ({'addressed' if x.get('addressed') else 'UNADDRESSED'})"
                for x in misuses
            )
            or "none declared",
            "affected_persons": ", ".join(map(str, payload.get("affected_persons", []))) or "—",
            **signed_file(path, repo),
        },
    )


def _backlog(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.engine import propose_risks

    doc, path = propose_risks(repo, key=sei.key())
    proposals = doc["payload"].get("proposals", [])
    columns = ("id", "title", "domain", "measures", "why")
    table = dg.MetadataValue.table(
        [
            dg.TableRecord(
                {
                    "id": p["id"],
                    "title": str(p.get("title", "")),
                    "domain": str(p.get("domain", "")),
                    "measures": ", ".join(
                        x["id"] for t in p.get("treat", []) for x in t.get("measures", [])
                    )
                    or "—",
                    "why": "; ".join(map(str, p.get("why", []))),
                }
            )
            for p in proposals
        ],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns]),
    )
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "status": (
                f"{len(proposals)} proposed risk(s): "
                + ", ".join(f"{p['id']} ({p.get('title', '')})" for p in proposals)
                if proposals
                else "no undeclared risk proposed"
            ),
            "proposed_risks": table,
            "proposals": len(proposals),
            "proposed": ", ".join(p["id"] for p in proposals) or "none",
            **signed_file(path, repo),
        },
    )


def _dossier(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.documents.dossier import build

    done = build(repo, key=sei.key())
    kinds: dict[str, int] = {}
    for p in done.open_points:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "status": f"gate {done.gate}; {len(done.open_points)} open point(s)"
            + (f": {', '.join(f'{n} {k}' for k, n in kinds.items())}" if kinds else ""),
            "dossier": dg.MetadataValue.url(done.html.as_uri()),
            **signed_file(done.html, repo),
            "pdf": dg.MetadataValue.path(str(done.pdf))
            if done.pdf
            else "not made: " + str(done.pdf_reason),
            "statement_of_applicability": dg.MetadataValue.path(str(done.soa)),
            "open_points": len(done.open_points),
            "check_it": "sei verify --repo " + str(repo),
        },
    )
