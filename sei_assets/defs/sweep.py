"""The compliance sweep over every registered system: a job, its schedule, a summary asset
with one review-interval check per system.

Two ways to sweep (`$SEI_SWEEP_MODE`). `one_run` (the default, the embedded instance): the
`daily_compliance_sweep` schedule launches `compliance_sweep` over every system in one run.
`fanout` (the production profile, deploy/): the `sei_sweep` sensor starts a sweep on each tick
of the same cron with one run per system that needs it (no evidence, stale, unverified or
review due; tagged `sei/system`, so the queued run coordinator holds one run per system at a
time and spreads them over the workers), then, once none of its runs is queued, running or
waiting for its retry, one run of `sweep_summary` that verifies and reports every system. A
sweep of fresh systems is that one summary run: no pipeline runs.
"""

import datetime as dt
import json
import os

import dagster as dg

from sei_assets import __version__
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import CHECKS, EAGER
from sei_assets.defs.keys import system_key
from sei_assets.defs.resources import SWEEP_CRON_ENV, SeiSettings, cron

SWEPT = ("assessment_plan", "pipeline_run", "evidence_bundle", "gate")
SWEEP_MODE_ENV = "SEI_SWEEP_MODE"  # "one_run" (the default) or "fanout"
SWEEP_POLL_ENV = "SEI_SWEEP_POLL_SECONDS"  # how often `sei_sweep` looks (default 30)
SWEEP_MODES = ("one_run", "fanout")
SWEEP_TAG, SYSTEM_TAG, PART_TAG = "sei/sweep", "sei/system", "sei/sweep_part"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def sweep_mode() -> str:
    """`$SEI_SWEEP_MODE` (`one_run` unless set); an unknown value is refused by name."""
    from sei_assets.core.errors import SeiError

    mode = os.environ.get(SWEEP_MODE_ENV) or "one_run"
    if mode not in SWEEP_MODES:
        raise SeiError(f"${SWEEP_MODE_ENV}={mode!r}: expected one of {', '.join(SWEEP_MODES)}")
    return mode


def latest_tick(cron_schedule: str, now: dt.datetime) -> dt.datetime:
    """The latest time at or before ``now`` that ``cron_schedule`` names (UTC)."""
    from dagster._utils.schedules import get_latest_completed_cron_tick

    return get_latest_completed_cron_tick(cron_schedule, now, "UTC")


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


def summary_key(team: str | None = None) -> dg.AssetKey:
    """`sweep_summary`, or `<team>/sweep_summary` in a team's code location (deploy/)."""
    return dg.AssetKey([team, "sweep_summary"] if team else ["sweep_summary"])


def sweep_definitions(
    entries: list[SystemEntry], team: str | None = None
) -> tuple[list, list, list, list, list]:
    """(assets, checks, jobs, schedules, sensors) of the sweep (of one team's systems when
    ``team`` is given: its summary key and report folder are the team's).

    `compliance_sweep` refreshes every system's chain (plan, pipeline, evidence, gate and its
    checks) and then `sweep_summary`, in one run: the summary reads the evidence bundles, not
    the gates' checks, so a red system fails only its own gate checks and is listed red.
    """
    bundles = [system_key(e.name, "evidence_bundle") for e in entries]

    @dg.asset(
        key=summary_key(team),
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
        out = sei.state() / "sweep" / team if team else sei.state() / "sweep"
        path = write_report(report, out, sei.key())
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
            asset=summary_key(team),
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
                    asset_key=summary_key(team),
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
        selection=chain | dg.AssetSelection.assets(summary_key(team)),
        description="Refresh every registered system's evidence.",
    )
    mode = sweep_mode()
    schedule = dg.ScheduleDefinition(
        name="daily_compliance_sweep",
        job=job,
        cron_schedule=cron(SWEEP_CRON_ENV, "0 6 * * *"),
        default_status=dg.DefaultScheduleStatus.RUNNING
        if mode == "one_run"
        else dg.DefaultScheduleStatus.STOPPED,
        description="The compliance sweep (cron from $SEI_SWEEP_CRON, daily at 06:00 by default).",
    )
    sensors = [fanout_sensor(entries, job, summary_key(team))] if mode == "fanout" else []
    return [sweep_summary], checks, [job], [schedule], sensors


def sweep_requests(entries: list[SystemEntry], sweep: str, now: dt.datetime) -> list:
    """One run request per system the sweep must re-evaluate (`core.sweep.needs_run`)."""
    from sei_assets.core.sweep import needs_run, system_row

    return [
        dg.RunRequest(
            run_key=f"sweep:{sweep}:{e.name}",
            asset_selection=[system_key(e.name, leaf) for leaf in SWEPT],
            tags={SWEEP_TAG: sweep, SYSTEM_TAG: e.name, PART_TAG: "system"},
        )
        for e in entries
        if needs_run(system_row(e, now))
    ]


def summary_request(sweep: str, key: dg.AssetKey) -> dg.RunRequest:
    """The run that verifies and reports every system once the sweep's runs are done."""
    return dg.RunRequest(
        run_key=f"summary:{sweep}",
        asset_selection=[key],
        tags={SWEEP_TAG: sweep, PART_TAG: "summary"},
    )


def still_running(instance: dg.DagsterInstance, sweep: str) -> int:
    """The sweep's runs queued, running, or failed with a retry not yet launched."""
    from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG

    busy = instance.get_runs_count(dg.RunsFilter(tags={SWEEP_TAG: sweep}, statuses=IN_FLIGHT))
    failed = instance.get_runs(
        dg.RunsFilter(
            tags={SWEEP_TAG: sweep, WILL_RETRY_TAG: "true"},
            statuses=[dg.DagsterRunStatus.FAILURE],
        )
    )
    return busy + sum(AUTO_RETRY_RUN_ID_TAG not in r.tags for r in failed)


def fanout_sensor(entries: list[SystemEntry], job, summary: dg.AssetKey) -> dg.SensorDefinition:
    """`sei_sweep`: a sweep per tick of `$SEI_SWEEP_CRON` (and one at its first evaluation), as
    one queued run per system that needs it, then the summary run."""
    sweep_cron = cron(SWEEP_CRON_ENV, "0 6 * * *")

    @dg.sensor(
        name="sei_sweep",
        job=job,
        minimum_interval_seconds=int(os.environ.get(SWEEP_POLL_ENV) or 30),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="The compliance sweep as one queued run per system that needs it, then "
        "one summary run that verifies and reports every system.",
    )
    def sei_sweep(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        state = json.loads(context.cursor) if context.cursor else {}
        now = dt.datetime.now(dt.UTC)
        due = latest_tick(sweep_cron, now).isoformat()
        if state.get("due", "") < due:
            sweep = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
            requests = sweep_requests(entries, sweep, now)
            cursor = {"sweep": sweep, "due": due, "systems": len(requests), "summary": False}
            if not requests:
                cursor["summary"] = True
                requests = [summary_request(sweep, summary)]
            return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))
        sweep = state["sweep"]
        if state.get("summary"):
            return dg.SensorResult(skip_reason=f"sweep {sweep} reported", cursor=context.cursor)
        busy = still_running(context.instance, sweep)
        if busy:
            return dg.SensorResult(
                skip_reason=f"sweep {sweep}: {busy} runs not finished", cursor=context.cursor
            )
        return dg.SensorResult(
            run_requests=[summary_request(sweep, summary)],
            cursor=json.dumps({**state, "summary": True}),
        )

    return sei_sweep
