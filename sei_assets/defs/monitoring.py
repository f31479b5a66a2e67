"""Post-market monitoring in Dagster (EU AI Act Art. 72): per monitored system a partitioned
`<system>/monitoring` asset per frequency its measures declare (daily `monitoring`, weekly
`monitoring_weekly`, monthly `monitoring_monthly`), one partitioned check per monitoring measure,
and one sensor.

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
#: The asset of each monitoring frequency (P1D keeps the plain name).
LEAVES = {"P1D": LEAF, "P1W": "monitoring_weekly", "P1M": "monitoring_monthly"}
_PARTITIONS: dict[tuple[str, str], dg.TimeWindowPartitionsDefinition] = {}
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}


def post_market_group(system: str) -> str:
    """The group of a system's post-market assets: beside its own group, not in it, so that
    `--select group:<system>` (CI's whole graph, unpartitioned) stays what it was."""
    return f"{system}_post_market"


def partitions(start: str, frequency: str = "P1D") -> dg.TimeWindowPartitionsDefinition:
    """The partitions of ``frequency`` from ``start``: days; weeks counted from ``start`` (the
    core's `period_start`); calendar months from the month of ``start``."""
    import datetime as dt

    found = _PARTITIONS.get((start, frequency))
    if found is None:
        first = dt.date.fromisoformat(start)
        if frequency == "P1W":  # Dagster counts week days from Sunday (0)
            found = dg.WeeklyPartitionsDefinition(
                start_date=start, day_offset=(first.weekday() + 1) % 7
            )
        elif frequency == "P1M":
            found = dg.MonthlyPartitionsDefinition(start_date=first.replace(day=1).isoformat())
        else:
            found = dg.DailyPartitionsDefinition(start_date=start)
        _PARTITIONS[(start, frequency)] = found
    return found


def frequencies(declared: dict[str, Any]) -> list[str]:
    """The frequencies the measures declare, daily first (daily when there is no measure)."""
    found = {m.get("frequency", "P1D") for m in declared["measures"]} or {"P1D"}
    return [f for f in LEAVES if f in found]


def monitoring_assets(entry: SystemEntry, declared: dict[str, Any]) -> list[dg.AssetsDefinition]:
    """One partitioned monitoring asset per frequency the system's measures declare."""
    return [monitoring_asset(entry, declared, f) for f in frequencies(declared)]


def monitoring_asset(
    entry: SystemEntry, declared: dict[str, Any], frequency: str = "P1D"
) -> dg.AssetsDefinition:
    """`<system>/monitoring` (daily; `monitoring_weekly`, `monitoring_monthly`), partitioned by
    its frequency, with one partitioned check per measure of that frequency."""
    leaf = LEAVES[frequency]
    key = system_key(entry.name, leaf)
    parts = partitions(declared["start"], frequency)
    measures = {
        check_name(m["id"]): m
        for m in declared["measures"]
        if m.get("frequency", "P1D") == frequency
    }
    period = {"P1D": "day", "P1W": "week", "P1M": "month"}[frequency]
    checks = [
        dg.AssetCheckSpec(
            name,
            asset=key,
            partitions_def=parts,
            description=f"{m['metric']} {m['threshold']} on the {period}'s decisions "
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
                description=f"Post-market monitoring (Art. 72): every monitoring measure of "
                f"frequency {frequency} on one {period} of production decisions, signed into the "
                "evidence set.",
            )
        ],
        check_specs=checks,
        name=f"{entry.name}__{leaf}",
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={"sei"},
    )
    def monitoring(context: dg.AssetExecutionContext):
        yield from _evaluate(context, entry, key, frequency)

    return monitoring


def _evaluate(
    context: dg.AssetExecutionContext, entry: SystemEntry, key: dg.AssetKey, frequency: str
):
    from sei_assets.core import monitoring
    from sei_assets.defs.system import loaded_manifest, repository

    repo = repository(entry)
    loaded = loaded_manifest(entry)
    if loaded.manifest.monitoring is None:
        raise dg.Failure(description="the manifest no longer declares monitoring.source")
    started = time.perf_counter()
    done = monitoring.run(
        repo, loaded, context.partition_keys, context.resources.sei.key(), frequency
    )
    for d in done.absent:
        context.log.info(f"{d}: no production batch (nothing to evaluate)")
    docs = done.documents
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
                "document": dg.MetadataValue.path(
                    str(repo / monitoring.period_path(day, frequency))
                ),
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


def stale_days(entry: SystemEntry, frequency: str = "P1D") -> dict[str, str]:
    """The periods of ``frequency`` whose data on disk is not the data their period document
    was computed from (a new batch, or one re-delivered with late outcomes), with its version."""
    from sei_assets.core import monitoring
    from sei_assets.core.errors import SeiError
    from sei_assets.core.manifest import load_manifest

    if not (entry.repo / ".git").exists():
        return {}
    try:
        mon = load_manifest(entry.manifest_path(entry.repo)).manifest.monitoring
        if mon is None:
            return {}
        return monitoring.stale(entry.repo, mon, frequency)
    except SeiError:
        return {}


def ranges(days: list[str], frequency: str = "P1D") -> list[tuple[str, str]]:
    """Consecutive periods of ``frequency`` (named by their first day) as (first, last)."""
    import datetime as dt

    from sei_assets.core.postmarket import period_end

    out: list[tuple[str, str]] = []
    for day in sorted(days):
        if out and period_end(dt.date.fromisoformat(out[-1][1]), frequency).isoformat() == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _frequencies(entry: SystemEntry) -> list[str]:
    from sei_assets.core.declarations import monitoring_of
    from sei_assets.core.errors import SeiError
    from sei_assets.core.manifest import load_manifest

    try:
        declared = monitoring_of(load_manifest(entry.manifest_path(entry.repo)).manifest)
    except SeiError:
        return []
    return frequencies(declared) if declared else []


def requests(entry: SystemEntry) -> list[dg.RunRequest]:
    """One run per range of stale periods of ``entry``, per frequency (a single period: exactly
    its partition); the run key names the batches' versions, so a re-delivered batch is a new
    request."""
    import hashlib

    if not (entry.repo / ".git").exists():
        return []
    out = []
    for frequency in _frequencies(entry):
        leaf = LEAVES[frequency]
        key = system_key(entry.name, leaf)
        stale = stale_days(entry, frequency)
        name = entry.name if frequency == "P1D" else f"{entry.name}/{leaf}"
        for first, last in ranges(list(stale), frequency):
            tags = {"sei/system": entry.name, "sei/trigger": "production-batch"}
            versions = "|".join(f"{d}={v}" for d, v in sorted(stale.items()) if first <= d <= last)
            stamp = hashlib.sha256(versions.encode()).hexdigest()[:16]
            if first == last:
                out.append(
                    dg.RunRequest(
                        run_key=f"monitoring:{name}:{first}:{stamp}",
                        asset_selection=[key],
                        partition_key=first,
                        tags=tags,
                    )
                )
            else:
                out.append(
                    dg.RunRequest(
                        run_key=f"monitoring:{name}:{first}..{last}:{stamp}",
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
