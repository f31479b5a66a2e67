"""Post-market monitoring in Dagster (EU AI Act Art. 72): per monitored system a daily-partitioned
`<system>/monitoring` asset, one partitioned check per monitoring measure, and one sensor.

- Only a system whose manifest declares `monitoring.source` has the asset (the others cost the
  code location nothing). A partition is a day of production decisions; materializing it
  computes every post-market measure on that day's batch (core/monitoring.py) and adds the
  period's signed document to the evidence set.
- A measure's check on a partition fails when the value is past its threshold: ERROR when its
  plan declares a `trigger`, WARN otherwise; a `monitor` measure's check never fails. No check
  blocks a run: monitoring reports, the breach acts through the risk cycle and the release.
- Backfills run as one run per range (`BackfillPolicy.single_run`): the step evaluates every
  day of the range and signs their documents in one evidence transaction.
- The `sei_monitoring` sensor compares, per system, each batch on disk with the batch its
  period document was computed from: a new batch, or a batch re-delivered with late outcomes,
  requests exactly its partition (contiguous days: one ranged run); nothing new, no run. It also
  raises each new open breach once (a run key per breach) by refreshing the system's risk
  cycle, where the breach reopens its risk.
"""

import json
import time
import warnings
from typing import Any

import dagster as dg

from sei_assets.core.registry import SystemEntry
from sei_assets.defs.keys import check_name, system_key

# partitioned asset checks are a preview of Dagster 1.13: the feature this module is made of
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

LEAF = "monitoring"
_PARTITIONS: dict[str, dg.DailyPartitionsDefinition] = {}
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}


def post_market_group(system: str) -> str:
    """The group of a system's post-market assets: beside its own group, not in it, so that
    `--select group:<system>` (CI's whole graph, unpartitioned) stays what it was."""
    return f"{system}_post_market"


def partitions(start: str) -> dg.DailyPartitionsDefinition:
    """The daily partitions from ``start`` (one definition per start date)."""
    found = _PARTITIONS.get(start)
    if found is None:
        found = _PARTITIONS[start] = dg.DailyPartitionsDefinition(start_date=start)
    return found


def monitoring_asset(entry: SystemEntry, declared: dict[str, Any]) -> dg.AssetsDefinition:
    """`<system>/monitoring`, daily-partitioned, with one partitioned check per measure."""
    key = system_key(entry.name, LEAF)
    parts = partitions(declared["start"])
    measures = {check_name(m["id"]): m for m in declared["measures"]}
    checks = [
        dg.AssetCheckSpec(
            name,
            asset=key,
            partitions_def=parts,
            description=f"{m['metric']} {m['threshold']} on the day's decisions "
            f"({'fires its trigger' if m['severity'] == 'error' else m['severity']}; {m['risk']})",
            metadata={"measure": m["id"], "risk_id": m["risk"]},
        )
        for name, m in measures.items()
    ]

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key,
                partitions_def=parts,
                group_name=post_market_group(entry.name),
                deps=[system_key(entry.name, "evidence_bundle")],
                kinds={"json"},
                skippable=True,
                description="Post-market monitoring (Art. 72): every monitoring measure on one "
                "day of production decisions, signed into the evidence set.",
            )
        ],
        check_specs=checks,
        name=f"{entry.name}__monitoring",
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={"sei"},
    )
    def monitoring(context: dg.AssetExecutionContext):
        yield from _evaluate(context, entry, key, measures)

    return monitoring


def _evaluate(
    context: dg.AssetExecutionContext, entry: SystemEntry, key: dg.AssetKey, measures: dict
):
    from sei_assets.core import monitoring
    from sei_assets.defs.system import loaded_manifest, repository

    repo = repository(entry)
    loaded = loaded_manifest(entry)
    if loaded.manifest.monitoring is None:
        raise dg.Failure(description="the manifest no longer declares monitoring.source")
    there = {p.day for p in monitoring.periods(repo, loaded.manifest.monitoring)}
    days = [d for d in context.partition_keys if d in there]
    for d in sorted(set(context.partition_keys) - there):
        context.log.info(f"{d}: no production batch (nothing to evaluate)")
    started = time.perf_counter()
    docs = monitoring.monitor(repo, loaded, days, context.resources.sei.key())
    context.log.info(
        f"{len(docs)} period(s) evaluated and signed in {time.perf_counter() - started:.2f} s"
    )
    selected = {k.name for k in context.selected_asset_check_keys}
    for doc in docs:
        day = doc["period"]
        breaches = [r["measure"] for r in doc["results"] if r["breach"]]
        yield dg.AssetMaterialization(
            key,
            partition=day,
            metadata={
                "status": "breach: " + ", ".join(breaches) if breaches else "within thresholds",
                "rows": doc["source"]["rows"],
                "outcomes_known": doc["source"]["outcomes_known"],
                "document": dg.MetadataValue.path(str(repo / monitoring.period_path(day))),
                "observed": dg.MetadataValue.json(doc["observed"]),
            },
        )
        for r in doc["results"]:
            name = check_name(r["measure"])
            if name not in selected:
                continue
            passed = not r["breach"] or r["severity"] == "info"
            yield dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=name,
                passed=passed,
                partition=day,
                severity=SEVERITY.get(r["severity"], dg.AssetCheckSeverity.WARN),
                description=_line(r),
                metadata={
                    "value": r["value"],
                    "threshold": r["threshold"],
                    "breach": r["breach"],
                    "status": r["status"],
                    "ci_low": (r["interval"] or {}).get("low"),
                    "ci_high": (r["interval"] or {}).get("high"),
                    "risk_id": r["risk"],
                    **({"feature": r["details"]["feature"]} if r.get("details") else {}),
                },
            )


INCIDENTS = "incidents"


def incidents_asset(entry: SystemEntry) -> dg.AssetsDefinition:
    """`<system>/incidents`: the system's serious-incident records (Art. 73), with the check
    `report_deadlines`: WARN when a report is due within 48 hours, ERROR when one is past."""
    key = system_key(entry.name, INCIDENTS)

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key,
                group_name=post_market_group(entry.name),
                kinds={"json"},
                description="Serious incidents (Art. 73): class, report deadline, status, linked "
                "breaches and risks; each record signed in the evidence set.",
            )
        ],
        check_specs=[
            dg.AssetCheckSpec(
                "report_deadlines",
                asset=key,
                description="No incident report is due within 48 hours (WARN) or past (ERROR).",
            )
        ],
        name=f"{entry.name}__incidents",
        can_subset=True,
    )
    def incidents(context: dg.AssetExecutionContext):
        from sei_assets.core import incident
        from sei_assets.defs.system import repository

        docs = incident.records(repository(entry))
        states = {d["id"]: incident.deadline_state(d) for d in docs}
        table = "\n".join(
            f"| {d['id']} | {d['class']} | {d['status']} | {d['deadline']} | {states[d['id']]} |"
            for d in docs
        )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "open": sum(d["status"] != "closed" for d in docs),
                "incidents": len(docs),
                "records": dg.MetadataValue.md(
                    "| id | class | status | deadline | state |\n| --- | --- | --- | --- | --- |\n"
                    + table
                ),
            },
        )
        past = [i for i, s in states.items() if s == "past"]
        due = [i for i, s in states.items() if s == "due"]
        yield dg.AssetCheckResult(
            check_name="report_deadlines",
            asset_key=key,
            passed=not (past or due),
            severity=dg.AssetCheckSeverity.ERROR if past else dg.AssetCheckSeverity.WARN,
            description=(
                f"past: {', '.join(past)}" if past else f"due within 48 h: {', '.join(due)}"
            )
            if past or due
            else "every report deadline met or ahead",
            metadata={"past": ", ".join(past) or "none", "due": ", ".join(due) or "none"},
        )

    return incidents


def incident_requests(entry: SystemEntry) -> list[dg.RunRequest]:
    """One run of `<system>/incidents` per incident whose deadline became due or past: its run
    key names the state, so each is flagged once as WARN and once as ERROR."""
    from sei_assets.core import incident
    from sei_assets.core.errors import SeiError

    if not (entry.repo / ".git").exists():
        return []
    try:
        flagged = [(d["id"], incident.deadline_state(d)) for d in incident.records(entry.repo)]
    except (SeiError, KeyError):
        return []
    return [
        dg.RunRequest(
            run_key=f"incident:{entry.name}:{i}:{state}",
            asset_selection=[system_key(entry.name, INCIDENTS)],
            tags={"sei/system": entry.name, "sei/trigger": f"incident-deadline-{state}"},
        )
        for i, state in flagged
        if state in ("due", "past")
    ]


def _line(r: dict[str, Any]) -> str:
    value = "not measured" if r["value"] is None else f"{r['value']:.4g}"
    verdict = "BREACH" if r["breach"] else "within"
    return f"{r['measure']}: {value} ({r['threshold']}): {verdict}"


def stale_days(entry: SystemEntry) -> dict[str, str]:
    """The days whose batch on disk is not the one their period document was computed from (a
    new batch, or one re-delivered with late outcomes), with the batch's version."""
    from sei_assets.core import monitoring, postmarket
    from sei_assets.core.errors import SeiError
    from sei_assets.core.manifest import load_manifest

    if not (entry.repo / ".git").exists():
        return {}
    try:
        mon = load_manifest(entry.manifest_path(entry.repo)).manifest.monitoring
        if mon is None:
            return {}
        found = monitoring.periods(entry.repo, mon)
        done = {
            d["period"]: (d.get("source") or {}).get("version")
            for d in postmarket.period_documents(entry.repo)
        }
    except SeiError:
        return {}
    return {p.day: p.version for p in found if done.get(p.day) != p.version}


def ranges(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) ranges."""
    import datetime as dt

    out: list[tuple[str, str]] = []
    one = dt.timedelta(days=1)
    for day in sorted(days):
        if out and dt.date.fromisoformat(day) - dt.date.fromisoformat(out[-1][1]) == one:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def requests(entry: SystemEntry) -> list[dg.RunRequest]:
    """One run per range of stale days of ``entry`` (a single day: exactly its partition); the
    run key names the batches' versions, so a re-delivered batch is a new request."""
    import hashlib

    key = system_key(entry.name, LEAF)
    stale = stale_days(entry)
    out = []
    for first, last in ranges(list(stale)):
        tags = {"sei/system": entry.name, "sei/trigger": "production-batch"}
        stamp = hashlib.sha256(
            "|".join(f"{d}={v}" for d, v in sorted(stale.items()) if first <= d <= last).encode()
        ).hexdigest()[:16]
        if first == last:
            out.append(
                dg.RunRequest(
                    run_key=f"monitoring:{entry.name}:{first}:{stamp}",
                    asset_selection=[key],
                    partition_key=first,
                    tags=tags,
                )
            )
        else:
            out.append(
                dg.RunRequest(
                    run_key=f"monitoring:{entry.name}:{first}..{last}:{stamp}",
                    asset_selection=[key],
                    tags={
                        **tags,
                        "dagster/asset_partition_range_start": first,
                        "dagster/asset_partition_range_end": last,
                    },
                )
            )
    return out


def breach_requests(entry: SystemEntry) -> list[dg.RunRequest]:
    """One run per open breach, keyed by the breach (measure, first day): Dagster launches a
    run key once, so a breach is raised once, however many ticks see it."""
    from sei_assets.core import postmarket
    from sei_assets.core.errors import SeiError

    if not (entry.repo / ".git").exists():
        return []
    try:
        found = postmarket.open_breaches(entry.repo)
    except SeiError:
        return []
    return [
        dg.RunRequest(
            run_key=f"breach:{entry.name}:{b.measure}:{b.since}",
            asset_selection=[system_key(entry.name, "risk_cycle")],
            tags={
                "sei/system": entry.name,
                "sei/trigger": "post-market-breach",
                "sei/breach": f"{b.measure} since {b.since}",
            },
        )
        for b in found
    ]


def tick(entries: list[SystemEntry], cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    """(run requests, new cursor) of one `sei_monitoring` tick. The cursor keeps the run keys
    already requested: a batch, or a breach, is requested once, whatever the ticks in between
    (a queued run's days stay stale until it has run)."""
    try:
        before = json.loads(cursor) if cursor else {}
    except ValueError:
        before = {}
    done = set(before.get("requested", [])) if isinstance(before, dict) else set()
    runs: list[dg.RunRequest] = []
    for entry in entries:
        runs += requests(entry)
        runs += breach_requests(entry)
        runs += incident_requests(entry)
    fresh = [r for r in runs if r.run_key not in done]
    keys = sorted(done | {r.run_key for r in fresh if r.run_key})
    return fresh, json.dumps({"requested": keys[-2000:]})


def monitoring_sensor(entries: list[SystemEntry]) -> dg.SensorDefinition:
    """`sei_monitoring`: new or re-delivered batches -> their partitions; new breaches -> raised
    once."""

    @dg.sensor(
        name="sei_monitoring",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A new production batch requests exactly its day's partition of "
        "<system>/monitoring; a batch re-delivered (late outcomes) re-evaluates its day; an "
        "open post-market breach refreshes the risk cycle once.",
    )
    def sei_monitoring(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        runs, cursor = tick(entries, context.cursor)
        if not runs:
            return dg.SensorResult(skip_reason="no new batch, no new breach", cursor=cursor)
        return dg.SensorResult(run_requests=runs, cursor=cursor)

    return sei_monitoring
