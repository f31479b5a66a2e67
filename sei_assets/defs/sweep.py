"""The compliance sweep over every registered system: a job, its schedule, a summary asset
with one review-interval check per system."""

import dagster as dg

from sei_assets import __version__
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import CHECKS, EAGER
from sei_assets.defs.keys import system_key
from sei_assets.defs.resources import SWEEP_CRON_ENV, SeiSettings, cron

SWEPT = ("assessment_plan", "pipeline_run", "evidence_bundle", "gate")


def review_state(row: dict) -> tuple[str, str]:
    """A system's review state: `current`, `overdue` (evidence older than its review
    interval) or `not_evaluated` (no evidence to date, or it cannot be read), with a sentence."""
    if row.get("error") or not row.get("generated_at"):
        why = row.get("error") or "no evidence yet"
        return "not_evaluated", f"NOT EVALUATED {row['system']}: {why}"
    if row.get("review_due") is None:
        return "not_evaluated", f"NOT EVALUATED {row['system']}: no review_interval declared"
    when = f"evidence of {row['generated_at']}, review every {row['review_interval']}"
    if row["review_due"]:
        return "overdue", f"OVERDUE {row['system']}: {when}"
    return "current", f"CURRENT {row['system']}: {when}"


def sweep_definitions(entries: list[SystemEntry]) -> tuple[list, list, list, list]:
    """(assets, checks, jobs, schedules) of the sweep.

    `compliance_sweep` refreshes every system's chain (plan, pipeline, evidence, gate and its
    checks) and then `sweep_summary`, in one run: the summary reads the evidence bundles, not
    the gates' checks, so a red system fails only its own gate checks and is listed red.
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
        columns = ["system", "gate", "stale", "last_evidence", "overall_residual", "review"]
        records = [
            dg.TableRecord(
                {
                    "system": r["system"],
                    "gate": r.get("gate") or "not evaluated",
                    "stale": ", ".join(r.get("stale_sections") or []) or "fresh",
                    "last_evidence": r.get("generated_at") or "—",
                    "overall_residual": r.get("overall_residual") or "—",
                    "review": review_state(r)[0],
                }
            )
            for r in report["systems"]
        ]
        schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns])
        totals = report["totals"]
        return dg.MaterializeResult(
            metadata={
                "status": f"{totals['green']} green, {totals['red']} red, "
                f"{totals['no_evidence']} not evaluated, {totals['review_due']} review due "
                f"of {totals['systems']} systems",
                "systems": dg.MetadataValue.table(records, schema=schema),
                "report": dg.MetadataValue.path(str(path)),
                **dict(totals.items()),
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
                state, text = review_state(row)
                yield dg.AssetCheckResult(
                    check_name=name,
                    asset_key=dg.AssetKey("sweep_summary"),
                    passed=state == "current",
                    severity=dg.AssetCheckSeverity.WARN,
                    description=text,
                    metadata={
                        "state": state,
                        "gate": str(row.get("gate") or "—"),
                        "generated_at": str(row.get("generated_at") or "—"),
                        "review_interval": str(row.get("review_interval") or "—"),
                    },
                )

        checks.append(review_intervals)

    chain = dg.AssetSelection.assets(*[system_key(e.name, leaf) for e in entries for leaf in SWEPT])
    job = dg.define_asset_job(
        "compliance_sweep",
        selection=chain | dg.AssetSelection.assets("sweep_summary"),
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
