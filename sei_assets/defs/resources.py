"""Resources: the settings every asset reads, visible in the UI's resources view.

Values come from the environment when it sets them (`dg.EnvVar`), else from the defaults
below; tests configure them directly instead of patching the environment.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.paths import STATE_ENV
from sei_assets.core.registry import SYSTEMS_ENV
from sei_assets.core.signing import KEY_ENV

OBSERVE_CRON_ENV = "SEI_OBSERVE_CRON"
SWEEP_CRON_ENV = "SEI_SWEEP_CRON"
AUTOMATION_ENV = "SEI_AUTOMATION"  # "conditions" (the default) or "drift" (many systems)
EXECUTOR_ENV = "SEI_EXECUTOR"  # "in_process" (the default), "multiprocess" or "celery"


class SeiSettings(dg.ConfigurableResource):
    """Where the engine keeps its key and state, which registry it read, and its cadences."""

    signing_key: str | None = None  # default: $SEI_SIGNING_KEY, else ~/.config/sei-assets/
    state_dir: str | None = None  # default: $SEI_STATE_DIR, else .sei-state/ of the checkout
    systems_file: str | None = None  # default: $SEI_SYSTEMS_FILE, else systems.yaml
    observe_cron: str = "*/5 * * * *"
    sweep_cron: str = "0 6 * * *"

    def key(self) -> Any:
        """The signing key (created on first use)."""
        from sei_assets.core.signing import load_or_create_key

        return load_or_create_key(Path(self.signing_key) if self.signing_key else None)

    def state(self) -> Path:
        """The local state folder."""
        from sei_assets.core.paths import state_dir

        return Path(self.state_dir) if self.state_dir else state_dir()


def _env_or(name: str, default: str | None) -> Any:
    return dg.EnvVar(name) if os.environ.get(name) else default


def settings_from_environment() -> SeiSettings:
    """The settings in force: each field from its environment variable when set."""
    return SeiSettings(
        signing_key=_env_or(KEY_ENV, None),
        state_dir=_env_or(STATE_ENV, None),
        systems_file=_env_or(SYSTEMS_ENV, None),
        observe_cron=_env_or(OBSERVE_CRON_ENV, "*/5 * * * *"),
        sweep_cron=_env_or(SWEEP_CRON_ENV, "0 6 * * *"),
    )


def cron(name: str, default: str) -> str:
    """A schedule's cron at load time (schedules need it before any resource exists)."""
    return os.environ.get(name) or default
