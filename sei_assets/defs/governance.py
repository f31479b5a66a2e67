"""Governance assets of one system: risk cycle, conformance per standard, impact, backlog.

Each is signed and downstream of what it reads.
"""

import dagster as dg

from sei_assets import __version__
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import EAGER
from sei_assets.defs.keys import system_key
from sei_assets.defs.metadata import signed_file
from sei_assets.defs.resources import SeiSettings


def governance_assets(entry: SystemEntry, standards: list[str]) -> list:
    """risk_cycle, one conformance asset per applicable standard, impact_assessment and
    risk_backlog."""
    from sei_assets.core.conformance import standard_slug
    from sei_assets.defs.system import repository

    name = entry.name
    common = {
        "group_name": name,
        "code_version": __version__,
        "kinds": {"json"},
        "automation_condition": EAGER,
    }

    def key(*leaf: str) -> dg.AssetKey:
        return system_key(name, *leaf)

    @dg.asset(
        key=key("risk_cycle"),
        deps=[key("evidence_bundle")],
        description="The risk-management cycle rebuilt from git history (reconstruct).",
        **common,
    )
    def risk_cycle(context: dg.AssetExecutionContext, sei: SeiSettings) -> dg.MaterializeResult:
        from sei_assets.core.engine import reconstruct_cycle

        doc, path = reconstruct_cycle(repository(entry), key=sei.key())
        payload = doc["payload"]
        return dg.MaterializeResult(
            metadata={
                **signed_file(path),
                "lifecycle": payload["lifecycle"]["state"],
                "snapshots": len(payload["snapshots"]),
                "treatment_arcs": len(payload.get("treatment_arcs", [])),
            }
        )

    def conformance_asset(standard: str):
        @dg.asset(
            key=key("conformance", standard_slug(standard)),
            deps=[key("evidence_bundle")],
            description=f"The evidence projected onto {standard}'s clause catalogue.",
            **common,
        )
        def _conformance(
            context: dg.AssetExecutionContext, sei: SeiSettings
        ) -> dg.MaterializeResult:
            from sei_assets.core.engine import project_conformance

            ((doc, path),) = project_conformance(repository(entry), [standard], key=sei.key())
            clauses = doc["payload"]["clauses"]
            counts: dict[str, int] = {}
            for c in clauses:
                counts[c["decision"]] = counts.get(c["decision"], 0) + 1
            table = ["| clause | title | decision | measures |", "|---|---|---|---|"] + [
                f"| {c['clause_id']} | {c['title']} | {c['decision']} | "
                f"{', '.join(c['measures']) or '—'} |"
                for c in clauses
            ]
            return dg.MaterializeResult(
                metadata={
                    **signed_file(path),
                    **counts,
                    "clauses": dg.MetadataValue.md("\n".join(table)),
                }
            )

        return _conformance

    @dg.asset(
        key=key("impact_assessment"),
        deps=[key("manifest"), key("assessment_plan")],
        description="Impact and foreseeable misuse (ISO/IEC 42001 6.1.4, AI Act Art. 27).",
        **common,
    )
    def impact_assessment(
        context: dg.AssetExecutionContext, sei: SeiSettings
    ) -> dg.MaterializeResult:
        from sei_assets.core.engine import assess_impact

        doc, path = assess_impact(repository(entry), key=sei.key())
        findings = doc["payload"].get("findings", [])
        return dg.MaterializeResult(metadata={**signed_file(path), "findings": len(findings)})

    @dg.asset(
        key=key("risk_backlog"),
        deps=[key("manifest"), key("assessment_plan")],
        description="Risks the manifest does not declare, proposed from the knowledge "
        "catalogue (assess).",
        **common,
    )
    def risk_backlog(context: dg.AssetExecutionContext, sei: SeiSettings) -> dg.MaterializeResult:
        from sei_assets.core.engine import propose_risks

        doc, path = propose_risks(repository(entry), key=sei.key())
        proposals = doc["payload"].get("proposals", [])
        return dg.MaterializeResult(
            metadata={
                **signed_file(path),
                "proposals": len(proposals),
                "proposed": ", ".join(p["id"] for p in proposals) or "none",
            }
        )

    return [risk_cycle, *[conformance_asset(s) for s in standards], impact_assessment, risk_backlog]
