"""Drift re-evaluates itself: Dagster's automation evaluation on a generated system."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from sei_assets.core.registry import SystemEntry
from sei_assets.defs.resources import SeiSettings
from sei_assets.defs.system import system_definitions
from tests.systems import make_system

LEAVES = ("manifest", "dataset", "treatment")
MODEL_SIDE = {"pipeline_run", "evidence_bundle", "gate", "release", "risk_cycle"}
SCOPE_SIDE = MODEL_SIDE | {"assessment_plan", "impact_assessment", "risk_backlog"}


def _defs(entries: list[SystemEntry]) -> dg.Definitions:
    assets, checks = [], []
    for e in entries:
        a, c = system_definitions(e)
        assets += a
        checks += c
    sources = [dg.AssetKey([e.name, leaf]) for e in entries for leaf in LEAVES]
    observe = dg.define_asset_job("observe_sources", selection=dg.AssetSelection.assets(*sources))
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[observe],
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
    """Observe the sources, then evaluate automation, carrying the cursor between ticks."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None

    def __call__(self):
        self.defs.resolve_job_def("observe_sources").execute_in_process(instance=self.instance)
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        return result


@pytest.fixture
def setting(tmp_path: Path):
    entries = [SystemEntry(n, make_system(tmp_path / n, n)) for n in ("alpha", "beta")]
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


def test_release_never_follows_a_red_gate(setting) -> None:
    (alpha, _beta), tick, defs, instance = setting
    (alpha.repo / "params.yaml").write_text("bias: 1.0\n")
    tick()
    model_side = dg.AssetSelection.assets(
        *[dg.AssetKey(["alpha", leaf]) for leaf in ("pipeline_run", "evidence_bundle")]
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


def test_sources_are_observed_on_a_cadence(setting) -> None:
    """The observable sources are requested for observation once a cron tick has passed."""
    import datetime as dt

    _entries, tick, defs, instance = setting
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=tick.cursor, evaluation_time=later
    )
    assert _requested(result, "alpha") >= {"manifest", "dataset", "treatment"}
    assert _requested(result, "beta") >= {"manifest", "dataset", "treatment"}
