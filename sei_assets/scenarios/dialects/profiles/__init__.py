"""The process-profile dialect (seed 002): scenarios of actions submitted to the control plane.

    from sei_assets.scenarios.dialects.profiles import load_suite
    scenarios = load_suite(load_profile("model_release"))

Importing this package does not import Dagster: `jobs.py` and `dagster.py` do.
"""

from __future__ import annotations

from pathlib import Path

from sei_assets.core.control.profile import LoadedProfile
from sei_assets.scenarios.dialects.profiles.model import (
    ProfileScenario,
    ProfileScenarioError,
    load_scenario,
    scenario_files,
    scenarios_dir,
)

__all__ = [
    "ProfileScenario",
    "ProfileScenarioError",
    "load_scenario",
    "load_suite",
    "scenario_files",
    "scenarios_dir",
]


def load_suite(profile: LoadedProfile, directory: Path | None = None) -> list[ProfileScenario]:
    """Every scenario of ``profile`` in the folder, all validated before any runs (the first bad
    file raises `ProfileScenarioError`)."""
    import json

    found = []
    for path in scenario_files(directory):
        try:
            head = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            head = None
        if isinstance(head, dict) and head.get("profile_id") not in (None, profile.profile.id):
            continue
        found.append(load_scenario(path, profile if head else None))
    return found
