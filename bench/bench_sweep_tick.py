"""The `sei_sweep` sensor's decision at N systems, in-process, without a cluster:

    .venv/bin/python bench/bench_sweep_tick.py --systems 500 --real 40

`--real` generated systems (file reproducer) are swept once by the embedded default so that
each has signed evidence; the registry then names N systems, cycling over those repositories
(each name its own row). Three ticks of a new sweep on the same instance: the first reads every
system afresh (status, hashing, full verification), the next two find every row remembered, as
a nightly sweep of unchanged systems does. Each prints its wall and CPU time, the runs it
requested and the events it returns (the summary, plus the review checks whose state changed).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", type=int, default=500)
    parser.add_argument("--real", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEI_STATE_DIR"] = f"{tmp}/state"
        os.environ["SEI_KNOWN_KEYS"] = f"{tmp}/known_keys.json"
        os.environ["SEI_SIGNING_KEY"] = f"{tmp}/signing-key.pem"
        os.environ["SEI_SWEEP_MODE"] = "fanout"
        from tests.cluster import reference_sweep
        from tests.systems import make_registry

        registry = make_registry(Path(tmp) / "systems", args.real)
        reference_sweep(registry, Path(tmp) / "state")

        import dagster as dg

        from sei_assets.core.registry import load_registry
        from sei_assets.defs import build_definitions
        from sei_assets.defs.resources import settings_from_environment

        real = load_registry(registry)
        entries = [
            dataclasses.replace(real[i % len(real)], name=f"s{i:05d}") for i in range(args.systems)
        ]
        defs = build_definitions(entries)
        sensor = defs.resolve_sensor_def("sei_sweep")
        sei = settings_from_environment()
        with dg.instance_for_test() as instance:
            for label in ("first (nothing remembered)", "unchanged", "unchanged"):
                context = dg.build_sensor_context(
                    instance=instance, definitions=defs, resources={"sei": sei}
                )
                start, cpu = time.perf_counter(), time.process_time()
                result = sensor(context)
                print(
                    f"{args.systems} systems, {label}: {time.perf_counter() - start:.2f} s wall, "
                    f"{time.process_time() - cpu:.2f} s CPU; {len(result.run_requests)} runs, "
                    f"{len(result.asset_events)} events",
                    flush=True,
                )


if __name__ == "__main__":
    main()
