"""Drift re-evaluates itself, and nothing else does: Dagster's automation evaluation and the
`sei_observe` sensor on generated systems."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import observation_sensor
from sei_assets.defs.resources import SeiSettings
from sei_assets.defs.system import system_definitions, systems_definitions
from tests.systems import make_system

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

LEAVES = ("manifest", "dataset", "treatment")
MODEL_SIDE = {"pipeline_run", "evidence_bundle", "gate", "release", "risk_cycle", "dossier"}
SCOPE_SIDE = MODEL_SIDE | {"assessment_plan", "impact_assessment", "risk_backlog"}


def _defs(entries: list[SystemEntry]) -> dg.Definitions:
    assets, checks = systems_definitions(entries)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        sensors=[observation_sensor(entries, "*/5 * * * *")],
        executor=dg.in_process_executor,
        resources={"sei": SeiSettings()},
    )


def _requested(result, name: str) -> set[str]:
    return {
        key.path[-1]
        for key in (r.key for r in result.results if r.true_subset.size)
        if isinstance(key, dg.AssetKey) and key.path[0] == name
    }


class Tick:
    """One tick of the daemon: the `sei_observe` sensor (its observations recorded as the
    daemon records a sensor's asset events, without a run), then the automation conditions,
    carrying the cursor between ticks."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None
        self.observed: list[dg.AssetObservation] = []
        self.run_requests = 0

    def observe(self) -> list[dg.AssetObservation]:
        sensor = self.defs.resolve_sensor_def("sei_observe")
        result = sensor(dg.build_sensor_context(instance=self.instance, definitions=self.defs))
        self.run_requests += len(result.run_requests or [])
        events = list(result.asset_events or [])
        for event in events:
            self.instance.report_runless_asset_event(event)
        self.observed += events
        return events

    def __call__(self, evaluation_time=None):
        self.observe()
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            cursor=self.cursor,
            evaluation_time=evaluation_time,
        )
        self.cursor = result.cursor
        return result


def _built(root: Path):
    """Two systems, every asset materialized, the automation ticked until quiet."""
    entries = [SystemEntry(n, make_system(root / n, n)) for n in ("alpha", "beta")]
    defs = _defs(entries)
    with dg.instance_for_test() as instance:
        tick = Tick(defs, instance)
        tick()
        everything = dg.AssetSelection.all()  # sources excluded: they are observed, not built
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.execute_in_process(
            instance=instance, asset_selection=list(everything.resolve(defs.resolve_asset_graph()))
        ).success
        tick()  # absorbs the first materializations
        yield entries, tick, defs, instance


#: What signs and trusts the evidence: a module-scoped setting keeps the key and key store
#: it was built with for its tests (each test otherwise gets its own, and a run of the shared
#: systems would then meet a KEY CHANGED).
_KEYS = ("SEI_SIGNING_KEY", "SEI_KNOWN_KEYS", "XDG_CONFIG_HOME")


def _keys_of_module() -> dict[str, str]:
    import os

    return {k: os.environ[k] for k in _KEYS}


def _with_keys(monkeypatch: pytest.MonkeyPatch, keys: dict[str, str]) -> None:
    for name, value in keys.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def _shared(tmp_path_factory: pytest.TempPathFactory):
    """One built setting for the edit tests of this module (building it costs a run of every
    asset of two systems): each test edits one file and `setting` puts it back."""
    keys = _keys_of_module()
    for built in _built(tmp_path_factory.mktemp("automation")):
        yield built, keys


@pytest.fixture
def setting(_shared, monkeypatch: pytest.MonkeyPatch):
    """The shared setting; after the test, every file of the systems as committed, and one
    tick that absorbs the change back (so the next test starts with nothing to request)."""
    shared, keys = _shared
    _with_keys(monkeypatch, keys)
    entries, tick, _defs_, _instance = shared
    yield shared
    for entry in entries:  # the tracked files as committed (the evidence is not tracked)
        subprocess.run(["git", "checkout", "--", "."], cwd=entry.repo, check=True)
    tick()
    assert tick().total_requested == 0  # quiet again


def test_no_change_requests_nothing(setting) -> None:
    _entries, tick, _defs_, _instance = setting
    assert tick().total_requested == 0


def test_treatment_edit_requests_only_the_model_side(setting) -> None:
    (alpha, _beta), tick, _defs_, _instance = setting
    (alpha.repo / "params.yaml").write_text("bias: 0.2\n")
    result = tick()
    assert _requested(result, "alpha") == MODEL_SIDE
    assert _requested(result, "beta") == set()


def test_data_edit_requests_features_and_evaluation(setting) -> None:
    (alpha, _beta), tick, _defs_, _instance = setting
    csv = alpha.repo / "data" / "records.csv"
    csv.write_text(csv.read_text() + "a,1\n")
    result = tick()
    assert _requested(result, "alpha") == MODEL_SIDE
    assert _requested(result, "beta") == set()


def test_scope_edit_recompiles(setting) -> None:
    (_alpha, beta), tick, _defs_, _instance = setting
    manifest = beta.repo / "sei.yaml"
    manifest.write_text(manifest.read_text().replace("< 0.05", "< 0.04"))
    result = tick()
    assert _requested(result, "beta") == SCOPE_SIDE
    assert _requested(result, "alpha") == set()


def test_an_idle_ui_on_fresh_evidence_requests_nothing_for_ten_minutes(setting) -> None:
    """The UI opened on fresh evidence (every asset materialized, no automation cursor yet):
    ticks every 30 s over 10 minutes request no run, and the observation sensor records
    nothing and launches nothing. Then one treatment edit: one observation, the model side."""
    import datetime as dt

    entries, _tick, defs, instance = setting
    tick = Tick(defs, instance)  # the first tick of a freshly opened UI: no cursor
    start = dt.datetime.now(dt.UTC)
    requested = [tick(start + dt.timedelta(seconds=30 * i)).total_requested for i in range(21)]
    assert requested == [0] * 21  # 0 runs requested in 10 minutes
    assert tick.observed == [] and tick.run_requests == 0
    (entries[0].repo / "params.yaml").write_text("bias: 0.2\n")
    result = tick(start + dt.timedelta(minutes=11))
    assert [e.asset_key.to_user_string() for e in tick.observed] == ["alpha/treatment"]
    assert tick.run_requests == 0  # the sensor observes; automation decides what runs
    assert _requested(result, "alpha") == MODEL_SIDE
    assert _requested(result, "beta") == set()


def test_release_never_follows_a_red_gate(setting) -> None:
    """(Last of the shared setting's tests: it runs assets, then runs them again green.)"""
    (alpha, _beta), tick, defs, instance = setting
    (alpha.repo / "params.yaml").write_text("bias: 1.0\n")
    tick()
    model_side = dg.AssetSelection.assets(
        *[dg.AssetKey(["alpha", leaf]) for leaf in ("pipeline_run", "evidence_bundle", "gate")]
    )
    assets, checks = system_definitions(alpha)
    run = dg.materialize(
        [*assets, *checks],
        selection=model_side,
        instance=instance,
        raise_on_error=False,
        resources={"sei": SeiSettings()},
    )
    failed = {e.check_name for e in run.get_asset_check_evaluations() if not e.passed}
    assert failed == {"parity_gap"}
    result = tick()
    assert "release" not in _requested(result, "alpha")
    # the committed parameters again, and the model side run green: the setting is as built
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=alpha.repo, check=True)
    again = dg.materialize(
        [*assets, *checks],
        selection=dg.AssetSelection.assets(*[dg.AssetKey(["alpha", s]) for s in MODEL_SIDE]),
        instance=instance,
        resources={"sei": SeiSettings()},
    )
    assert again.success


def test_a_system_without_evidence_is_not_observed_into_a_run(tmp_path: Path) -> None:
    """A seeded system never evaluated is `not evaluated`, not drifted: nothing observed."""
    entries = [SystemEntry("gamma", make_system(tmp_path / "gamma", "gamma"))]
    with dg.instance_for_test() as instance:
        tick = Tick(_defs(entries), instance)
        assert tick().total_requested == 0
        assert tick.observed == [] and tick.run_requests == 0


# `drift` mode ($SEI_AUTOMATION=drift, the production profile): the `sei_observe` sensor
# compares each system's sei.lock with its files in one pass and requests the affected assets.


def _drift_defs(entries: list[SystemEntry]) -> dg.Definitions:
    from sei_assets.defs.automation import automation_sensor

    base = _defs(entries)
    return dg.Definitions(
        assets=base.assets,
        asset_checks=base.asset_checks,
        sensors=[automation_sensor("drift"), observation_sensor(entries, "*/5 * * * *", "drift")],
        executor=dg.in_process_executor,
        resources={"sei": SeiSettings()},
    )


class DriftTick:
    """One tick of the `drift`-mode `sei_observe` sensor, its cursor carried between ticks."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None

    def __call__(self) -> dg.SensorResult:
        sensor = self.defs.resolve_sensor_def("sei_observe")
        context = dg.build_sensor_context(
            instance=self.instance, definitions=self.defs, cursor=self.cursor
        )
        result = sensor(context)
        self.cursor = result.cursor
        for event in result.asset_events or []:
            self.instance.report_runless_asset_event(event)
        return result


def _drift_requested(result: dg.SensorResult) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for request in result.run_requests or []:
        system = request.tags["sei/system"]
        assert {k.path[0] for k in request.asset_selection} == {system}  # one system per run
        out[system] = {k.path[-1] for k in request.asset_selection}
    return out


@pytest.fixture
def drift_setting(_drift_shared, monkeypatch: pytest.MonkeyPatch):
    shared, keys = _drift_shared
    _with_keys(monkeypatch, keys)
    return shared


@pytest.fixture(scope="module")
def _drift_shared(tmp_path_factory: pytest.TempPathFactory):
    """Three systems, alpha's and beta's assets materialized, gamma never evaluated; shared by
    the drift tests below in their order (a treatment edit run, then data and scope edits)."""
    root = tmp_path_factory.mktemp("drift")
    entries = [SystemEntry(n, make_system(root / n, n)) for n in ("alpha", "beta", "gamma")]
    defs = _drift_defs(entries)
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        keys = [
            k
            for k in dg.AssetSelection.all().resolve(defs.resolve_asset_graph())
            if k.path[0] != "gamma"
        ]
        assert job.execute_in_process(instance=instance, asset_selection=keys).success
        yield (entries, DriftTick(defs, instance), defs, instance), _keys_of_module()


def test_drift_mode_stops_the_condition_sensor(tmp_path: Path) -> None:
    defs = _drift_defs([SystemEntry("alpha", make_system(tmp_path / "alpha", "alpha"))])
    statuses = {s.name: s.default_status for s in defs.sensors}
    assert statuses["sei_automation"] == dg.DefaultSensorStatus.STOPPED
    assert statuses["sei_observe"] == dg.DefaultSensorStatus.RUNNING
    # the stopped sensor still covers every key: Dagster adds no default automation sensor
    names = {s.name for s in defs.get_repository_def().sensor_defs}
    assert "default_automation_condition_sensor" not in names


def test_drift_mode_no_change_requests_nothing(drift_setting) -> None:
    _entries, tick, _defs_, _instance = drift_setting
    for _ in range(3):
        result = tick()
        assert not result.run_requests and not result.asset_events  # gamma: never evaluated


def test_drift_mode_treatment_edit_requests_that_system_only(drift_setting) -> None:
    (alpha, _beta, _gamma), tick, _defs_, instance = drift_setting
    (alpha.repo / "params.yaml").write_text("bias: 0.2\n")
    first = tick()
    assert _drift_requested(first) == {"alpha": MODEL_SIDE}
    assert [e.asset_key.to_user_string() for e in first.asset_events] == ["alpha/treatment"]
    again = tick()  # still drifted: the same run key (the daemon launches it once), no new event
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    assert not again.asset_events
    # the run of what was requested makes the evidence current: nothing more to request
    assets, checks = system_definitions(alpha)
    run = dg.materialize(
        [*assets, *checks],
        selection=first.run_requests[0].asset_selection,
        instance=instance,
        resources={"sei": SeiSettings()},
    )
    assert run.success
    assert not tick().run_requests


def test_drift_mode_data_and_scope_edits(drift_setting) -> None:
    (alpha, beta, _gamma), tick, _defs_, _instance = drift_setting
    csv = alpha.repo / "data" / "records.csv"
    csv.write_text(csv.read_text() + "a,1\n")
    manifest = beta.repo / "sei.yaml"
    manifest.write_text(manifest.read_text().replace("< 0.05", "< 0.04"))
    assert _drift_requested(tick()) == {"alpha": MODEL_SIDE, "beta": SCOPE_SIDE}


def test_one_sources_definition_observes_each_system_from_its_own_files(tmp_path: Path) -> None:
    """Every system's sources are one definition: observing a selection of it records each
    selected source at its own system's version, and nothing for the systems not selected."""
    from sei_assets.defs.system import source_versions

    alpha = SystemEntry("alpha", make_system(tmp_path / "alpha", "alpha", bias=0.1))
    beta = SystemEntry("beta", make_system(tmp_path / "beta", "beta", bias=1.0))
    defs = _defs([alpha, beta])
    [sources] = [a for a in defs.assets if a.node_def.name == "sei_sources"]
    assert len(sources.keys) == 6
    job = defs.resolve_implicit_global_asset_job_def()

    def recorded(instance, entry):
        out = {}
        for key in source_versions(entry):
            record = instance.get_latest_data_version_record(key)
            out[key] = record.asset_event.tags.get("dagster/data_version") if record else None
        return out

    with dg.instance_for_test() as instance:
        alpha_keys = list(source_versions(alpha))
        assert job.execute_in_process(instance=instance, asset_selection=alpha_keys).success
        assert recorded(instance, alpha) == source_versions(alpha)
        assert set(recorded(instance, beta).values()) == {None}
        beta_keys = list(source_versions(beta))
        assert job.execute_in_process(instance=instance, asset_selection=beta_keys[2:]).success
        treatment = dg.AssetKey(["beta", "treatment"])
        assert recorded(instance, beta)[treatment] == source_versions(beta)[treatment]
        assert (
            source_versions(beta)[treatment]
            != source_versions(alpha)[dg.AssetKey(["alpha", "treatment"])]
        )
