"""The compliance sweep over every registered system: a job, its schedule, a summary asset
with one review-interval check per system.

Two ways to sweep (`$SEI_SWEEP_MODE`). `one_run` (the default, the embedded instance): the
`daily_compliance_sweep` schedule launches `compliance_sweep` over every system in one run.
`fanout` (the production profile, deploy/): the `sei_sweep` sensor starts a sweep on each tick
of the same cron. It reads every system's row (`core.sweep.sweep_rows`: an unchanged system's
row is remembered, so this costs file metadata) and queues runs only for the systems that need
one (no evidence, stale, unverified or review due): one run per system (tagged `sei/system`, so
the queued run coordinator holds one run per system at a time), or one run per
`$SEI_SWEEP_BATCH` systems. Once none of its runs is queued, running or waiting for its retry,
the sensor records `sweep_summary` itself (one materialization with each system's decision, and
the review checks). A sweep of unchanged systems launches no run at all.
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
SWEEP_BATCH_ENV = "SEI_SWEEP_BATCH"  # systems per run of a fanout sweep (default 1)
MAX_BATCH = 1000
KEEP_ENV = "SEI_SWEEP_KEEP_DAYS"  # sweep runs older than this are deleted (unset: kept)
KEEP_CRON_ENV = "SEI_SWEEP_KEEP_CRON"  # when the retention job runs (daily at 05:00)
FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
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


def review_check(row: dict) -> tuple[bool, str, dict[str, str]]:
    """A system's `<system>_review_current` check: passed, sentence, metadata."""
    state, text = review_state(row)
    metadata = {
        "state": state,
        "gate": str(row.get("gate") or "—"),
        "generated_at": str(row.get("generated_at") or "—"),
        "review_interval": str(row.get("review_interval") or "—"),
    }
    return state == "current", text, metadata


def summary_metadata(report: dict, path) -> dict:
    """The `sweep_summary` materialization's metadata: one table row per system (with the
    sweep's decision for it), the totals, and the signed report's path."""
    columns = ["system", "decision", "gate", "stale", "last_evidence", "overall_residual", "review"]
    records = [
        dg.TableRecord(
            {
                "system": r["system"],
                "decision": r.get("decision") or "—",
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
    return {
        **dict(totals.items()),  # first: the table below is also called "systems"
        "status": f"{totals['green']} green, {totals['red']} red, "
        f"{totals['no_evidence']} not evaluated, {totals['review_due']} review due "
        f"of {totals['systems']} systems; {totals['swept']} re-evaluated",
        "systems": dg.MetadataValue.table(records, schema=schema),
        "report": dg.MetadataValue.path(str(path)),
    }


def _out(sei: SeiSettings, team: str | None):
    """The folder of the signed sweep report (the team's, in a team's code location)."""
    return sei.state() / "sweep" / team if team else sei.state() / "sweep"


def _write(report: dict, sei: SeiSettings, team: str | None):
    from sei_assets.core.sweep import write_report

    return write_report(report, _out(sei, team), sei.key())


def _reported_reviews(out) -> dict[str, str]:
    """Each system's review state in the last sweep report written here ({} when there is
    none or it cannot be read: every state is then written)."""
    from sei_assets.core.sweep import REPORT

    try:
        with open(out / REPORT, "rb") as fh:
            doc = json.loads(fh.read(64 * 2**20))
        return {r["system"]: review_state(r)[0] for r in doc["systems"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def sweep_batch(given: object = None) -> int:
    """Systems per run of a fanout sweep: ``given`` (an operator's cursor, `{"force": true,
    "batch": 25}`), else `$SEI_SWEEP_BATCH`, else 1 (a run per system, each system isolated
    in its own run and retried alone)."""
    from sei_assets.core.errors import SeiError

    where = "the sei_sweep cursor's batch" if given is not None else f"${SWEEP_BATCH_ENV}"
    raw = str(given if given is not None else os.environ.get(SWEEP_BATCH_ENV) or "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BATCH:
        raise SeiError(f"{where}={raw!r}: expected a whole number from 1 to {MAX_BATCH}")
    return int(raw)


def keep_days() -> int | None:
    """`$SEI_SWEEP_KEEP_DAYS`: how many days of finished sweep runs the instance keeps (None,
    unset: all of them)."""
    from sei_assets.core.errors import SeiError

    raw = os.environ.get(KEEP_ENV)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > 36500:
        raise SeiError(f"${KEEP_ENV}={raw!r}: expected a whole number of days (0 keeps none)")
    return int(raw)


def old_sweep_runs(instance: dg.DagsterInstance, before: dt.datetime) -> list[str]:
    """The finished runs a sweep launched (tagged `sei/sweep`) created before ``before``."""
    found: list[str] = []
    cursor = None
    while True:
        page = instance.get_runs(
            dg.RunsFilter(statuses=FINISHED, created_before=before), cursor=cursor, limit=500
        )
        found += [r.run_id for r in page if SWEEP_TAG in r.tags]
        if len(page) < 500:
            return found
        cursor = page[-1].run_id


def retention_definitions() -> tuple[list, list]:
    """(jobs, schedules) of the sweep runs' retention, when `$SEI_SWEEP_KEEP_DAYS` is set: the
    `sweep_run_retention` job deletes finished sweep runs older than that, with their event
    logs (the evidence itself is in the systems' repositories, signed; the sweep reports in the
    state folder). Dagster OSS purges sensor and schedule ticks (`retention:` in dagster.yaml),
    never runs."""
    days = keep_days()
    if days is None:
        return [], []

    @dg.op(name="delete_old_sweep_runs")
    def delete_old_sweep_runs(context: dg.OpExecutionContext) -> None:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        doomed = old_sweep_runs(context.instance, before)
        for run_id in doomed:
            context.instance.delete_run(run_id)
        context.log.info(f"deleted {len(doomed)} sweep runs created before {before:%Y-%m-%d %H:%M}")

    @dg.job(
        name="sweep_run_retention",
        description=f"Delete finished sweep runs older than {days} days (${KEEP_ENV}).",
    )
    def sweep_run_retention() -> None:
        delete_old_sweep_runs()

    schedule = dg.ScheduleDefinition(
        name="sweep_run_retention_daily",
        job=sweep_run_retention,
        cron_schedule=cron(KEEP_CRON_ENV, "0 5 * * *"),
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return [sweep_run_retention], [schedule]


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
        from sei_assets.core.sweep import sweep_report

        report = sweep_report(entries)
        return dg.MaterializeResult(metadata=summary_metadata(report, _write(report, sei, team)))

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
                passed, text, metadata = review_check(system_row(e))
                yield dg.AssetCheckResult(
                    check_name=name,
                    asset_key=summary_key(team),
                    passed=passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=text,
                    metadata=metadata,
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
    sweep_batch()  # a misconfigured deployment is refused when it loads, not at a tick
    sensors = [fanout_sensor(entries, job, team)] if mode == "fanout" else []
    kept_jobs, kept_schedules = retention_definitions()
    return [sweep_summary], checks, [job, *kept_jobs], [schedule, *kept_schedules], sensors


def sweep_requests(todo: list[SystemEntry], sweep: str, batch: int = 1) -> list:
    """The runs that re-evaluate ``todo``: one per system (tagged `sei/system`, so the queued
    run coordinator holds one run per system at a time), or one per ``batch`` systems, each
    system a step of the run's executor (with celery, spread over the workers)."""
    if batch <= 1:
        return [
            dg.RunRequest(
                run_key=f"sweep:{sweep}:{e.name}",
                asset_selection=[system_key(e.name, leaf) for leaf in SWEPT],
                tags={SWEEP_TAG: sweep, SYSTEM_TAG: e.name, PART_TAG: "system"},
            )
            for e in todo
        ]
    return [
        dg.RunRequest(
            run_key=f"sweep:{sweep}:batch:{n}",
            asset_selection=[
                system_key(e.name, leaf) for e in todo[at : at + batch] for leaf in SWEPT
            ],
            tags={SWEEP_TAG: sweep, PART_TAG: "batch"},
        )
        for n, at in enumerate(range(0, len(todo), batch))
    ]


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


def fanout_sensor(entries: list[SystemEntry], job, team: str | None) -> dg.SensorDefinition:
    """`sei_sweep`: a sweep per tick of `$SEI_SWEEP_CRON` (and one at its first evaluation,
    when an operator asks with `sei sweep request [--force] [--batch N]`, or deletes its
    cursor; `{"force": true}` as the cursor re-evaluates every system). The tick reads every
    system's row (remembered rows of unchanged systems cost file metadata), queues runs only
    for the systems that need one (:func:`sweep_requests`) and, once none is in flight,
    records `sweep_summary` itself: one materialization and the review checks, no run. A
    sweep of unchanged systems is that one tick."""
    sweep_cron = cron(SWEEP_CRON_ENV, "0 6 * * *")
    key = summary_key(team)

    def report(sei: SeiSettings, sweep: str, now: dt.datetime, decided: dict, runs: int) -> list:
        """The summary's materialization, and a review check evaluation for each system whose
        review state differs from the last report's (Dagster keeps showing the latest one: an
        unchanged state is not written again, so a sweep of 500 unchanged systems is one
        event, not 501)."""
        from sei_assets.core.sweep import sweep_report

        before = _reported_reviews(_out(sei, team))
        doc = sweep_report(entries, now, decided)
        metadata = summary_metadata(doc, _write(doc, sei, team))
        checks = []
        for row in doc["systems"]:
            passed, text, meta = review_check(row)
            if before.get(row["system"]) == meta["state"]:
                continue
            checks.append(
                dg.AssetCheckEvaluation(
                    asset_key=key,
                    check_name=f"{row['system']}_review_current",
                    passed=passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=text,
                    metadata=meta,
                )
            )
        extra: dict[str, str | int] = {
            "sweep": sweep,
            "runs": runs,
            "review_checks_written": len(checks),
        }
        return [dg.AssetMaterialization(key, metadata={**metadata, **extra}), *checks]

    @dg.sensor(
        name="sei_sweep",
        job=job,
        minimum_interval_seconds=int(os.environ.get(SWEEP_POLL_ENV) or 30),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="The compliance sweep: runs only for the systems that changed (one per "
        "system, or batched), then the summary recorded by the sensor itself.",
    )
    def sei_sweep(context: dg.SensorEvaluationContext, sei: SeiSettings) -> dg.SensorResult:
        from sei_assets.core.sweep import decision, needs_run, sweep_rows, take_request

        state = json.loads(context.cursor) if context.cursor else {}
        request = take_request(_out(sei, team))  # `sei sweep request`: a sweep now
        if request is not None:
            state = {"force": bool(request.get("force")), "batch": request.get("batch")}
        now = dt.datetime.now(dt.UTC)
        due = latest_tick(sweep_cron, now).isoformat()
        if state.get("force") or state.get("due", "") < due:  # a new sweep
            sweep = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
            force = bool(state.get("force"))
            rows = sweep_rows(entries, now)
            decided = {
                r["system"]: "forced" if force else decision(r)
                for r in rows
                if force or needs_run(r)
            }
            todo = [e for e in entries if e.name in decided]
            requests = sweep_requests(todo, sweep, sweep_batch(state.get("batch")))
            cursor = {"sweep": sweep, "due": due, "systems": len(todo), "runs": len(requests)}
            if requests:
                cursor |= {"summary": False, "decided": decided}
                return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))
            events = report(sei, sweep, now, {}, 0)
            return dg.SensorResult(
                asset_events=events, cursor=json.dumps(cursor | {"summary": True})
            )
        sweep = state["sweep"]
        if state.get("summary"):
            return dg.SensorResult(skip_reason=f"sweep {sweep} reported", cursor=context.cursor)
        busy = still_running(context.instance, sweep)
        if busy:
            return dg.SensorResult(
                skip_reason=f"sweep {sweep}: {busy} runs not finished", cursor=context.cursor
            )
        events = report(sei, sweep, now, state.get("decided") or {}, state.get("runs", 0))
        cursor = {k: v for k, v in state.items() if k != "decided"} | {"summary": True}
        return dg.SensorResult(asset_events=events, cursor=json.dumps(cursor))

    return sei_sweep
