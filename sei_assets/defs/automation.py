"""Automation: what re-evaluates when, and the sensors that run it. Calm by design.

- The sources (manifest, dataset, treatment) are observed by the `sei_observe` sensor, which
  records an observation *without launching a run*, and only when the files on disk differ
  from the version last recorded (the evidence records the versions it was computed from).
- Computed assets follow a change of what they read (`EAGER`: any dependency updated since
  the asset was last handled); a missing asset is never started by automation alone, so an
  idle UI on fresh evidence requests nothing. First evaluations are `sei run`, the sweep's
  schedule or a click.
- `release` also needs every blocking check of the gate to pass.

Two modes (`$SEI_AUTOMATION`). `conditions` (the default): the conditions above, evaluated by
the `sei_automation` sensor; Dagster evaluates them key by key, which costs about 9 ms per
asset or check key per tick (bench/README.md), too slow past a hundred systems. `drift` (the
production profile): `sei_automation` is there but stopped, and `sei_observe` itself compares,
in one pass, each system's `sei.lock` input hashes with the files on disk and requests one run
per drifted system of exactly what the changed sources feed in the asset graph.
"""

import datetime as dt
import json
import os
from collections import deque

import dagster as dg

from sei_assets.core.errors import SeiError

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


MODES = ("conditions", "drift")


def automation_mode() -> str:
    """`$SEI_AUTOMATION` (`conditions` unless set); an unknown value is refused by name."""
    from sei_assets.defs.resources import AUTOMATION_ENV

    mode = os.environ.get(AUTOMATION_ENV) or "conditions"
    if mode not in MODES:
        raise SeiError(f"${AUTOMATION_ENV}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def automation_sensor(mode: str = "conditions") -> dg.AutomationConditionSensorDefinition:
    """The sensor evaluating every automation condition: running in `conditions` mode, stopped
    in `drift` mode (it still covers every key, so Dagster adds no default sensor of its own)."""
    status = (
        dg.DefaultSensorStatus.RUNNING if mode == "conditions" else dg.DefaultSensorStatus.STOPPED
    )
    return dg.AutomationConditionSensorDefinition(
        "sei_automation",
        target=dg.AssetSelection.all(),
        default_status=status,
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


def locked_and_current(entry) -> tuple[dict[dg.AssetKey, str], dict[dg.AssetKey, str]] | None:
    """A system's source versions as its `sei.lock` recorded them and as the files on disk
    give them now; None for a system without evidence (not evaluated is not drifted)."""
    from sei_assets.core.lock import read_lock
    from sei_assets.defs.system import source_versions

    try:
        found = read_lock(entry.repo)
    except SeiError:
        found = None
    if found is None:
        return None
    lock = found[1] if isinstance(found[1], dict) else {}
    sections = lock.get("sections")
    hashes = {
        s: v["input_hash"]
        for s, v in (sections.items() if isinstance(sections, dict) else [])
        if isinstance(v, dict) and isinstance(v.get("input_hash"), str)
    }
    current = source_versions(entry)
    if not current:
        return None
    return source_versions(entry, hashes), current


def drifted(entries: list) -> dict[str, dict[dg.AssetKey, str]]:
    """Per drifted system, its sources whose files differ from what its lock recorded (their
    current versions). One pass over the repositories; no instance query."""
    out = {}
    for entry in entries:
        versions = locked_and_current(entry)
        if versions is None:
            continue
        locked, current = versions
        changed = {k: v for k, v in current.items() if locked.get(k) != v}
        if changed:
            out[entry.name] = changed
    return out


def affected(graph, system: str, sources: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """What ``sources`` feed, transitively, among the system's own materializable assets (the
    sweep summary, outside the system, is the sweep's)."""
    seen: set[dg.AssetKey] = set()
    todo = deque(sources)
    while todo:
        for child in graph.get(todo.popleft()).child_keys:
            if child not in seen and child.path[0] == system:
                seen.add(child)
                todo.append(child)
    return sorted(k for k in seen if graph.get(k).is_materializable)


def drift_tick(entries: list, graph, observed: dict[str, str]) -> tuple[list, list, dict]:
    """(observations, run requests, the new cursor's versions) of one `drift`-mode tick: an
    observation for each drifted source not yet observed at its current version, and one run
    per drifted system of what the changed sources feed. Its run key names the versions: a
    system whose run is queued or running is not requested again, nor one whose run failed
    before writing evidence (the next change, or the sweep, evaluates it again)."""
    import hashlib

    events, requests, now_observed = [], [], {}
    for system, changed in sorted(drifted(entries).items()):
        for key, version in changed.items():
            name = key.to_user_string()
            now_observed[name] = version
            if observed.get(name) != version:
                events.append(
                    dg.AssetObservation(
                        key,
                        tags={DATA_VERSION_TAG: version},
                        metadata={"observed_by": "sei_observe", "mode": "drift"},
                    )
                )
        stamp = "|".join(f"{k.to_user_string()}={v}" for k, v in sorted(changed.items()))
        requests.append(
            dg.RunRequest(
                run_key=f"drift:{system}:{hashlib.sha256(stamp.encode()).hexdigest()[:16]}",
                asset_selection=affected(graph, system, sorted(changed)),
                tags={"sei/system": system, "sei/trigger": "drift"},
            )
        )
    return events, requests, now_observed


def observation_sensor(entries: list, cron: str, mode: str = "conditions") -> dg.SensorDefinition:
    """Observe every system's sources on the cadence of ``cron`` and record only changes. In
    `conditions` mode it launches no run (a changed version is what the automation conditions
    react to); in `drift` mode it also requests, per drifted system, what the change feeds."""
    if mode == "drift":
        return _drift_sensor(entries, cron)

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


def _drift_sensor(entries: list, cron: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="sei_observe",
        minimum_interval_seconds=interval_seconds(cron),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Compares each system's sei.lock input hashes with its files in one pass; "
        "records an observation and requests one run of the affected assets per drifted system.",
    )
    def sei_observe(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        previous = json.loads(context.cursor).get("observed", {}) if context.cursor else {}
        repository = context.repository_def
        assert repository is not None, "a running sensor has its repository"
        graph = repository.asset_graph
        events, requests, observed = drift_tick(entries, graph, previous)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        cursor = json.dumps({"at": now, "observed": observed}, sort_keys=True)
        if not requests:
            return dg.SensorResult(skip_reason="no source drifted", cursor=cursor)
        return dg.SensorResult(asset_events=events, run_requests=requests, cursor=cursor)

    return sei_observe
