"""Automation over many systems: the no-op tick, and a tick after changing one system.

    .venv/bin/python bench/bench_automation.py --sizes 100 250 500 [--modes drift conditions]

Generates the largest number of small systems (file reproducer, tests/systems.py), sweeps them
once (every chain materialized, every `sei.lock` written), then for each size N builds the
definitions of the first N systems on that instance and times one tick of each mode:

- `drift` ($SEI_AUTOMATION=drift, the production profile): the `sei_observe` sensor, which
  reads every system's `sei.lock` and hashes its inputs in one pass and requests a run per
  drifted system;
- `conditions` (the default): `sei_observe` (observations only) and then Dagster's
  `evaluate_automation_conditions`, the evaluation the `sei_automation` sensor runs.

For each: requested runs and wall time with nothing changed (must be 0), then after editing
sys_007's treatment (must request only sys_007's assets), then the edit is undone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def drift_ticks(defs, instance, edit) -> list[str]:
    """The `drift`-mode ticks: no-op (best of 3) and after the edit."""
    import dagster as dg

    sensor = defs.resolve_sensor_def("sei_observe")

    def tick(cursor=None):
        start, cpu = time.perf_counter(), time.process_time()
        result = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))
        return result, time.perf_counter() - start, time.process_time() - cpu

    lines = []
    first, _, _ = tick()
    took = []
    for _ in range(3):
        result, seconds, cpu = tick(first.cursor)
        took.append((seconds, cpu))
        assert not result.run_requests, "a no-op tick requested runs"
    seconds, cpu = min(took)
    lines.append(f"no-op tick: 0 requested, {seconds:.2f} s wall, {cpu:.2f} s CPU (best of 3)")
    edit(True)
    result, seconds, cpu = tick(first.cursor)
    edit(False)
    keys = sorted(k.to_user_string() for r in result.run_requests for k in r.asset_selection)
    lines.append(
        f"after editing sys_007: {len(result.run_requests)} run, {keys}, {seconds:.2f} s wall, "
        f"{cpu:.2f} s CPU"
    )
    return lines


def condition_ticks(defs, instance, edit) -> list[str]:
    """The `conditions`-mode ticks: settle, no-op and after the edit."""
    import dagster as dg

    sensor = defs.resolve_sensor_def("sei_observe")
    cursor, lines = None, []

    def tick(label: str) -> None:
        nonlocal cursor
        events = sensor(dg.build_sensor_context(instance=instance, definitions=defs)).asset_events
        for event in events or []:
            instance.report_runless_asset_event(event)
        start = time.perf_counter()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        took = time.perf_counter() - start
        cursor = result.cursor
        keys = sorted(
            {
                r.key.to_user_string()
                for r in result.results
                if r.true_subset.size and isinstance(r.key, dg.AssetKey)
            }
        )
        systems = sorted({k.split("/")[0] for k in keys})
        lines.append(
            f"{label}: {result.total_requested} requested ({len(keys)} assets of {systems}), "
            f"{took:.2f} s"
        )

    tick("settle (first evaluation)")
    tick("no-op tick")
    edit(True)
    tick("after editing sys_007")
    edit(False)
    tick("after undoing the edit")
    return lines


def evaluate_all(entries) -> None:
    """Every system evaluated as its `evidence_bundle` asset does, without Dagster."""
    from sei_assets.core.engine import compile_plan, evaluate, reproduce, seal
    from sei_assets.core.manifest import load_manifest
    from sei_assets.core.signing import load_or_create_key

    key = load_or_create_key()
    for entry in entries:
        loaded = load_manifest(entry.repo)
        compile_plan(loaded)
        bundle, _results, bom_text, inputs = evaluate(loaded, reproduce(loaded, repro=True))
        seal(loaded, bundle, bom_text, inputs, key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--modes", nargs="+", default=["drift", "conditions"])
    parser.add_argument(
        "--setup",
        choices=["sweep", "engine"],
        default="sweep",
        help="sweep: one compliance_sweep run in Dagster (what `conditions` needs: every "
        "asset materialized); engine: each system evaluated by the engine directly (its "
        "sei.lock and evidence, all that `drift` reads), much faster",
    )
    args = parser.parse_args()
    most = max(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ["SEI_STATE_DIR"] = str(Path(tmp) / "state")
        from tests.systems import make_registry

        start = time.perf_counter()
        registry = make_registry(Path(tmp) / "sys", most)
        print(f"generated {most} systems: {time.perf_counter() - start:.1f} s", flush=True)
        import dagster as dg

        from sei_assets.core.registry import load_registry
        from sei_assets.defs import build_definitions

        entries = load_registry(registry)
        params = registry.parent / "sys_007" / "params.yaml"
        original = params.read_text()

        def edit(on: bool) -> None:
            params.write_text("bias: 0.2\n" if on else original)

        with dg.instance_for_test() as instance:
            start = time.perf_counter()
            if args.setup == "engine":
                assert args.modes == ["drift"], "--setup engine materializes nothing in Dagster"
                evaluate_all(entries)
            else:
                build_definitions(entries).resolve_job_def("compliance_sweep").execute_in_process(
                    instance=instance, raise_on_error=False, run_config=QUIET
                )
            took = time.perf_counter() - start
            print(f"initial evaluation of {most} systems ({args.setup}): {took:.1f} s")
            for size in sorted(args.sizes):
                for mode in args.modes:
                    os.environ["SEI_AUTOMATION"] = mode
                    defs = build_definitions(entries[:size])
                    graph = defs.resolve_asset_graph()
                    keys = len(graph.get_all_asset_keys()) + len(graph.asset_check_keys)
                    ticks = drift_ticks if mode == "drift" else condition_ticks
                    for line in ticks(defs, instance, edit):
                        print(f"{size:4d} systems ({keys} keys), {mode}: {line}", flush=True)


if __name__ == "__main__":
    main()
