"""The Dagster code location: `dagster dev -m sei_assets.definitions`, `workspace.yaml`,
`dagster asset materialize -m sei_assets.definitions --select 'loan/*'`.

Every system in the registry (`systems.yaml`) gets its asset graph. Runs execute in-process by
default (one process for all steps: the quickest on graphs this small).
"""

from __future__ import annotations

import dagster as dg

from sei_assets.graph import system_definitions
from sei_assets.registry import load_registry


def build_definitions() -> dg.Definitions:
    """Definitions for every registered system."""
    assets, checks = [], []
    for entry in load_registry():
        a, c = system_definitions(entry)
        assets += a
        checks += c
    return dg.Definitions(assets=assets, asset_checks=checks, executor=dg.in_process_executor)


defs = build_definitions()
