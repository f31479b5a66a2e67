"""Where the project keeps its resources and its local state."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout this package lives in."""
    return Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    """The registered AI systems' resources (`resources/`)."""
    return project_root() / "resources"


STATE_ENV = "SEI_STATE_DIR"


def state_dir() -> Path:
    """Local state (demo workspaces, the Dagster instance): `$SEI_STATE_DIR` or `.sei-state/`."""
    return Path(os.environ.get(STATE_ENV, project_root() / ".sei-state"))
