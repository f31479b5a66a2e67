"""Governance assets of one system: risk cycle, conformance per standard, impact, backlog.

Each is signed and downstream of what it reads. They are one multi-asset (subsettable, each
spec with its own automation), so a system costs one definition here, not one per standard.
"""

from typing import Any

import dagster as dg

from sei_assets import __version__
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import EAGER
from sei_assets.defs.keys import system_key
from sei_assets.defs.metadata import signed_file
from sei_assets.defs.resources import SeiSettings


def governance_assets(entry: SystemEntry, standards: list[str]) -> list:
    """risk_cycle, one conformance asset per applicable standard, impact_assessment and
    risk_backlog, as one multi-asset."""
    from sei_assets.core.conformance import standard_slug

    name = entry.name

    def key(*leaf: str) -> dg.AssetKey:
        return system_key(name, *leaf)

    def spec(asset_key: dg.AssetKey, deps: list[str], description: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            asset_key,
            deps=[key(d) for d in deps],
            description=description,
            group_name=name,
            code_version=__version__,
            kinds={"json"},
            automation_condition=EAGER,
        )

    by_standard = {key("conformance", standard_slug(s)): s for s in standards}
    specs = [
        spec(
            key("risk_cycle"),
            ["evidence_bundle"],
            "The risk-management cycle rebuilt from git history (reconstruct).",
        ),
        *[
            spec(k, ["evidence_bundle"], f"The evidence projected onto {s}'s clause catalogue.")
            for k, s in by_standard.items()
        ],
        spec(
            key("impact_assessment"),
            ["manifest", "assessment_plan"],
            "Impact and foreseeable misuse (ISO/IEC 42001 6.1.4, AI Act Art. 27).",
        ),
        spec(
            key("risk_backlog"),
            ["manifest", "assessment_plan"],
            "Risks the manifest does not declare, proposed from the knowledge catalogue (assess).",
        ),
    ]

    @dg.multi_asset(specs=specs, name=f"{name}__governance", can_subset=True)
    def governance(context: dg.AssetExecutionContext, sei: SeiSettings):
        from sei_assets.defs.system import repository

        repo = repository(entry)
        selected = context.selected_asset_keys
        if key("risk_cycle") in selected:
            yield _risk_cycle(key("risk_cycle"), repo, sei)
        for asset_key, standard in by_standard.items():
            if asset_key in selected:
                yield _conformance(asset_key, repo, standard, sei)
        if key("impact_assessment") in selected:
            yield _impact(key("impact_assessment"), repo, sei)
        if key("risk_backlog") in selected:
            yield _backlog(key("risk_backlog"), repo, sei)

    return [governance]


def _risk_cycle(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.engine import reconstruct_cycle

    doc, path = reconstruct_cycle(repo, key=sei.key())
    payload = doc["payload"]
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            **signed_file(path),
            "lifecycle": payload["lifecycle"]["state"],
            "snapshots": len(payload["snapshots"]),
            "treatment_arcs": len(payload.get("treatment_arcs", [])),
        },
    )


def _conformance(
    asset_key: dg.AssetKey, repo: Any, standard: str, sei: SeiSettings
) -> dg.MaterializeResult:
    from sei_assets.core.engine import project_conformance

    ((doc, path),) = project_conformance(repo, [standard], key=sei.key())
    clauses = doc["payload"]["clauses"]
    counts: dict[str, int] = {}
    for c in clauses:
        counts[c["decision"]] = counts.get(c["decision"], 0) + 1
    table = ["| clause | title | decision | measures |", "|---|---|---|---|"] + [
        f"| {c['clause_id']} | {c['title']} | {c['decision']} | {', '.join(c['measures']) or '—'} |"
        for c in clauses
    ]
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={**signed_file(path), **counts, "clauses": dg.MetadataValue.md("\n".join(table))},
    )


def _impact(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.engine import assess_impact

    doc, path = assess_impact(repo, key=sei.key())
    findings = doc["payload"].get("findings", [])
    return dg.MaterializeResult(
        asset_key=asset_key, metadata={**signed_file(path), "findings": len(findings)}
    )


def _backlog(asset_key: dg.AssetKey, repo: Any, sei: SeiSettings) -> dg.MaterializeResult:
    from sei_assets.core.engine import propose_risks

    doc, path = propose_risks(repo, key=sei.key())
    proposals = doc["payload"].get("proposals", [])
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            **signed_file(path),
            "proposals": len(proposals),
            "proposed": ", ".join(p["id"] for p in proposals) or "none",
        },
    )
