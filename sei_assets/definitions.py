"""The `sei_assets` code location: the registered systems, their sweep and seeding (`dg dev`,
`workspace.yaml`, `dagster asset materialize -m sei_assets.definitions --select
'group:loan_scoring'`). The scenario runtime's jobs are the second location, `sei_scenarios`
(`sei_assets.scenario_definitions`), so this one lists the systems' jobs only. Loading it reads
the registry and the manifests, and runs nothing."""

from __future__ import annotations

from sei_assets.core.registry import load_registry
from sei_assets.defs import build_definitions

defs = build_definitions(load_registry())
