"""The compliance sweep over every registered system: a job, its schedule, a summary asset
with one review-interval check per system."""

import dagster as dg

from sei_assets import __version__
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import CHECKS, EAGER
from sei_assets.defs.keys import system_key
from sei_assets.defs.resources import SWEEP_CRON_ENV, SeiSettings, cron

SWEPT = ("assessment_plan", "pipeline_run", "evidence_bundle")


def sweep_definitions(entries: list[SystemEntry]) -> tuple[list, list, list, list]:
    """(assets, checks, jobs, schedules) of the sweep.

    `compliance_sweep` refreshes every system's chain (plan, pipeline, evidence and their
    checks; a red system fails only its own steps); `sweep_summary` follows by automation as
    soon as the bundles it reads have changed.
    """
    bundles = [system_key(e.name, "evidence_bundle") for e in entries]

    @dg.asset(
        key="sweep_summary",
        group_name="compliance",
        deps=bundles,
        automation_condition=EAGER,
        code_version=__version__,
        kinds={"json"},
        description="Per registered system: gate, stale sections, last evidence, overall "
        "residual, review due. Signed JSON report.",
    )
    def sweep_summary(context: dg.AssetExecutionContext, sei: SeiSettings) -> dg.MaterializeResult:
        from sei_assets.core.sweep import sweep_report, write_report

        report = sweep_report(entries)
        path = write_report(report, sei.state() / "sweep", sei.key())
        rows = [
            "| system | gate | stale | last evidence | overall residual | review due |",
            "|---|---|---|---|---|---|",
        ]
        for r in report["systems"]:
            rows.append(
                f"| {r['system']} | {r.get('gate') or '—'} | "
                f"{', '.join(r.get('stale_sections') or []) or 'fresh'} | "
                f"{r.get('generated_at') or '—'} | {r.get('overall_residual') or '—'} | "
                f"{r.get('review_due')} |"
            )
        return dg.MaterializeResult(
            metadata={
                "systems": dg.MetadataValue.md("\n".join(rows)),
                "report": dg.MetadataValue.path(str(path)),
                **dict(report["totals"].items()),
            },
        )

    specs = [
        dg.AssetCheckSpec(
            f"{e.name}_review_current",
            asset="sweep_summary",
            description=f"{e.name}: evidence younger than its review_interval.",
            automation_condition=CHECKS,
        )
        for e in entries
    ]
    checks = []
    if specs:

        @dg.multi_asset_check(specs=specs, name="review_intervals", can_subset=True)
        def review_intervals(context: dg.AssetCheckExecutionContext):
            from sei_assets.core.sweep import system_row

            selected = {k.name for k in context.selected_asset_check_keys}
            for e in entries:
                name = f"{e.name}_review_current"
                if name not in selected:
                    continue
                row = system_row(e)
                yield dg.AssetCheckResult(
                    check_name=name,
                    asset_key=dg.AssetKey("sweep_summary"),
                    passed=row.get("review_due") is False,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "generated_at": str(row.get("generated_at")),
                        "review_interval": str(row.get("review_interval")),
                        "review_due": str(row.get("review_due")),
                    },
                )

        checks.append(review_intervals)

    chain = dg.AssetSelection.assets(*[system_key(e.name, leaf) for e in entries for leaf in SWEPT])
    job = dg.define_asset_job(
        "compliance_sweep",
        selection=chain,
        description="Refresh every registered system's evidence.",
    )
    schedule = dg.ScheduleDefinition(
        name="daily_compliance_sweep",
        job=job,
        cron_schedule=cron(SWEEP_CRON_ENV, "0 6 * * *"),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The compliance sweep (cron from $SEI_SWEEP_CRON, daily at 06:00 by default).",
    )
    return [sweep_summary], checks, [job], [schedule]
