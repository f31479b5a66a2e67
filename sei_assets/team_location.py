"""The teams' code locations (deploy/): one lazily built `Definitions` per team, named after its
registry `$SEI_TEAMS_DIR/<team>.yaml` (default deploy/teams/), holding that team's systems and
their sweep (its summary is `<team>/sweep_summary`), so several teams share one instance
without clashing. A workspace entry or code server names the team as the attribute
(`-m sei_assets.team_location -a credit`): each team is served and redeployed on its own, and a
run names its team in its code origin, so any worker can execute any team's run. The scenario
jobs are the `sei_scenarios` location (`sei_assets.scenario_definitions`)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from sei_assets.core.paths import project_root

TEAMS_ENV = "SEI_TEAMS_DIR"


def teams_dir() -> Path:
    """The folder of the teams' registries."""
    return Path(os.environ.get(TEAMS_ENV) or project_root() / "deploy" / "teams")


def team_definitions(team: str, registry: Path):
    """The lazily built code location of one team. A process builds it once per version of
    the registry file (a celery worker executes many runs of the same location)."""
    built: dict[tuple[int, int], dg.Definitions] = {}

    @dg.definitions
    def location() -> dg.Definitions:
        from sei_assets.core.registry import load_registry
        from sei_assets.defs import build_definitions

        stat = registry.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        if version not in built:
            built.clear()
            built[version] = build_definitions(load_registry(registry), team=team)
        return built[version]

    return location


for _registry in sorted(teams_dir().glob("*.yaml")):
    if _registry.stem.isidentifier():
        globals()[_registry.stem] = team_definitions(_registry.stem, _registry)
