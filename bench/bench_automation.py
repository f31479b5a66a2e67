"""Automation over many systems: a no-op tick, then a tick after changing one system.

    .venv/bin/python bench/bench_automation.py [--systems 100]

Generates N small systems (file reproducer, tests/systems.py), materializes every chain once,
then measures Dagster's automation evaluation (`evaluate_automation_conditions`, the same
evaluation the `sei_automation` sensor runs): runs requested and wall time with nothing
changed (must be 0 requested), and after editing one system's treatment (must request only
that system's assets).
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ["SEI_STATE_DIR"] = str(Path(tmp) / "state")
        from tests.systems import make_registry

        registry = make_registry(Path(tmp) / "sys", args.systems)
        import dagster as dg

        from sei_assets.core.registry import load_registry
        from sei_assets.defs import build_definitions

        defs = build_definitions(load_registry(registry))
        sources = dg.AssetSelection.all(include_sources=True) - dg.AssetSelection.all()
        observe = dg.define_asset_job("observe", selection=sources)
        defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[observe]))
        with dg.instance_for_test() as instance:
            start = time.perf_counter()
            defs.resolve_job_def("compliance_sweep").execute_in_process(
                instance=instance, raise_on_error=False
            )
            print(f"initial sweep of {args.systems} systems: {time.perf_counter() - start:.1f} s")
            cursor = None

            def tick(label: str) -> None:
                nonlocal cursor
                defs.resolve_job_def("observe").execute_in_process(instance=instance)
                start = time.perf_counter()
                result = dg.evaluate_automation_conditions(
                    defs=defs, instance=instance, cursor=cursor
                )
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
                print(
                    f"{label}: {result.total_requested} requested ({len(keys)} assets, "
                    f"systems {systems[:5]}), evaluation {took:.2f} s"
                )

            tick("settle (first evaluation)")
            tick("no-op tick")
            params = registry.parent / "sys_007" / "params.yaml"
            params.write_text("bias: 0.2\n")
            tick("after editing sys_007's treatment")


if __name__ == "__main__":
    main()
