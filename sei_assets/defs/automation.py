"""Automation: what re-evaluates when, and the sensors that run it. Calm by design.

- The sources (manifest, dataset, treatment) are observed by the `sei_observe` sensor, which
  records an observation *without launching a run*, and only when the files on disk differ
  from the version last recorded (the evidence records the versions it was computed from).
- Computed assets follow a change of what they read (`EAGER`: any dependency updated since
  the asset was last handled); a missing asset is never started by automation alone, so an
  idle UI on fresh evidence requests nothing. First evaluations are `sei run`, the sweep's
  schedule or a click.
- `release` also needs every blocking check of the gate to pass.
"""

import datetime as dt
import json

import dagster as dg

EAGER = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("on_drift")
RELEASE = EAGER & dg.AutomationCondition.all_deps_blocking_checks_passed()
CHECKS = dg.AutomationCondition.any_deps_updated() & ~dg.AutomationCondition.in_progress()
DATA_VERSION_TAG = "dagster/data_version"  # the tag Dagster reads an observation's version from


def interval_seconds(cron: str, default: int = 300) -> int:
    """The smallest gap between two ticks of ``cron`` (the observation sensor's interval)."""
    try:
        from dagster._utils.schedules import get_smallest_cron_interval

        return max(30, int(get_smallest_cron_interval(cron).total_seconds()))
    except Exception:  # noqa: BLE001 - a private helper; the default cadence stands in
        return default


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """The sensor evaluating every automation condition (running by default)."""
    return dg.AutomationConditionSensorDefinition(
        "sei_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Drift observed on disk re-evaluates exactly what it made stale.",
    )


def observations(entries: list, instance: dg.DagsterInstance) -> list[dg.AssetObservation]:
    """An observation for each source whose files on disk differ from its last recorded
    version; none for a system that has no evidence yet (it is not evaluated, not drifted)."""
    from sei_assets.defs.system import source_versions

    events = []
    for entry in entries:
        current = source_versions(entry)
        if not current:
            continue
        for key, version in current.items():
            recorded = instance.get_latest_data_version_record(key)
            event = recorded.asset_event if recorded else None
            last = (event.tags or {}).get(DATA_VERSION_TAG) if event else None
            if last is None and not (entry.repo / "sei.lock").exists():
                continue
            if version != last:
                events.append(
                    dg.AssetObservation(
                        key,
                        tags={DATA_VERSION_TAG: version},
                        metadata={"previous": last or "—", "observed_by": "sei_observe"},
                    )
                )
    return events


def observation_sensor(entries: list, cron: str) -> dg.SensorDefinition:
    """Observe every system's sources on the cadence of ``cron``; record only changes, and
    never launch a run (a changed version is what the automation conditions react to)."""

    @dg.sensor(
        name="sei_observe",
        minimum_interval_seconds=interval_seconds(cron),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Hashes each system's manifest, dataset and treatment; records an "
        "observation only when one changed. Launches no run.",
    )
    def sei_observe(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        events = observations(entries, context.instance)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        changed = sorted({e.asset_key.to_user_string() for e in events})
        cursor = json.dumps({"at": now, "changed": changed})
        if not events:
            return dg.SensorResult(skip_reason="no source changed", cursor=cursor)
        return dg.SensorResult(asset_events=events, cursor=cursor)

    return sei_observe
