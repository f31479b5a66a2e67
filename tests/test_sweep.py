"""The compliance sweep over many registered systems: 50 generated systems, 3 red, 2 due."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from sei_assets.core import signing
from tests.systems import make_registry

RED = frozenset({3, 17, 41})
DUE = frozenset({5, 8})


def test_sweep_of_fifty_systems(tmp_path: Path, monkeypatch) -> None:
    registry = make_registry(tmp_path / "systems", 50, red=RED, due=DUE)
    from sei_assets.core.registry import load_registry
    from sei_assets.defs import build_definitions
    from sei_assets.defs.resources import SeiSettings

    defs = build_definitions(load_registry(registry))
    with dg.instance_for_test() as instance:
        sweep = defs.resolve_job_def("compliance_sweep").execute_in_process(
            instance=instance, raise_on_error=False
        )
        failed = {
            (e.asset_key.path[0], e.check_name)
            for e in sweep.get_asset_check_evaluations()
            if not e.passed
        }
        assert failed == {(f"sys_{i:03d}", "parity_gap") for i in RED}
        assert not sweep.success  # the red systems fail their own steps, the rest completes
        summary = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            instance=instance,
            selection=dg.AssetSelection.assets("sweep_summary"),
            resources={"sei": SeiSettings(state_dir=str(tmp_path / "state"))},
        )
        assert summary.success
        review = {e.check_name: e.passed for e in summary.get_asset_check_evaluations()}
        assert {n for n, ok in review.items() if not ok} == {
            f"sys_{i:03d}_review_current" for i in DUE
        }
        assert all(
            e.severity == dg.AssetCheckSeverity.WARN for e in summary.get_asset_check_evaluations()
        )
    out = tmp_path / "state" / "sweep"
    report = json.loads((out / "sweep.json").read_text())
    assert report["totals"] == {
        "systems": 50,
        "green": 47,
        "red": 3,
        "no_evidence": 0,
        "stale": 0,
        "review_due": 2,
    }
    rows = {r["system"]: r for r in report["systems"]}
    assert rows["sys_003"]["gate"] == "red" and rows["sys_004"]["gate"] == "green"
    assert rows["sys_004"]["overall_residual"] == "MEDIUM"
    verdict = signing.verify_file(out / "sweep.json", (out / "PUBKEY.txt").read_text().strip())
    assert verdict.ok, verdict.reason
