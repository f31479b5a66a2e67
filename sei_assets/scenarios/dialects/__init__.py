"""Scenario dialects: each a package of the same shape (model and loader, its verbs or
providers, its expectations, its Dagster job builder), run by one runtime.

A dialect registers here with a name and a `jobs(directory)` function (``directory`` is the
scenarios folder; each dialect but the harness reads its own subfolder of it) returning
``(jobs, problems)``: Dagster jobs for every file it recognises in ``directory`` and, for every
file it recognises but cannot load, the file and the reason. A malformed file never raises
out of `jobs`: it is reported, and the code location still loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Dialect:
    """One scenario dialect: its name, the seed it implements, its job builder."""

    name: str
    seed: str
    jobs: Callable[[Path | None], tuple[list[Any], list[tuple[Path, str]]]]


def _harness_jobs(directory: Path | None) -> tuple[list[Any], list[tuple[Path, str]]]:
    from sei_assets.scenarios.dialects.harness.jobs import scenario_jobs_safe

    return scenario_jobs_safe(directory)


def _check_jobs(directory: Path | None) -> tuple[list[Any], list[tuple[Path, str]]]:
    from sei_assets.scenarios.dialects.checks.jobs import check_jobs_safe

    return check_jobs_safe(Path(directory) / "checks" if directory else None)


def _lifecycle_jobs(directory: Path | None) -> tuple[list[Any], list[tuple[Path, str]]]:
    from sei_assets.scenarios.dialects.lifecycle.jobs import lifecycle_jobs_safe

    return lifecycle_jobs_safe(Path(directory) / "lifecycle" if directory else None)


def _profile_jobs(directory: Path | None) -> tuple[list[Any], list[tuple[Path, str]]]:
    from sei_assets.scenarios.dialects.profiles.jobs import scenario_jobs_safe

    return scenario_jobs_safe(directory)  # it reads <directory>/profiles


DIALECTS: list[Dialect] = [
    Dialect("harness", "000", _harness_jobs),
    Dialect("checks", "003", _check_jobs),
    Dialect("lifecycle", "004", _lifecycle_jobs),
    Dialect("profiles", "002", _profile_jobs),
]
