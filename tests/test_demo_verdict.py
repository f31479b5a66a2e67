"""The demo's account of a run it expects to fail: the verdict in the run's own words, without
Dagster's stack (Dagster's console logger prints one for every failed step)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from sei_assets.cli.demo import run_verdict

REASON = "RED gate, release blocked: parity-gap: parity_difference = 0.118, needs ≤ 0.03"


@dg.asset(name="gate")
def _red_gate() -> None:
    raise dg.Failure(description=REASON, allow_retries=False)


@dg.asset(name="crash")
def _crash() -> None:
    raise RuntimeError("the metrics file is unreadable")


def test_a_red_gate_reads_as_its_verdict(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = dg.materialize(
            [_red_gate],
            instance=instance,
            raise_on_error=False,
            tags={"sei/gate": "red", "sei/outcome": "red", "sei/run": "loan V1 (abc1234): RED"},
        )
    assert not result.success
    text = run_verdict(tmp_path)
    assert (
        text.splitlines()[0]
        == "run loan V1 (abc1234): RED: failure (sei/gate=red, sei/outcome=red)"
    )
    assert f"gate: {REASON}" in text
    assert "Stack Trace" not in text and "dagster._core" not in text and "File " not in text


def test_a_crash_reads_as_its_message(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert not dg.materialize([_crash], instance=instance, raise_on_error=False).success
    text = run_verdict(tmp_path)
    assert "crash:" in text and "the metrics file is unreadable" in text
    assert "Stack Trace" not in text and "File " not in text


def test_an_empty_instance_has_no_run(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert run_verdict(tmp_path) == "no run recorded"
