"""The providers of the lifecycle dialect, one small module each, and their verb registry.

`VERBS` maps `<provider>.<verb>` to its `Verb`; `sei.*` verbs are every engine verb of the CLI.
Adding a verb is one `Verb(...)` in its module's `VERBS` list.
"""

from __future__ import annotations

from sei_assets.scenarios.dialects.lifecycle.providers import (
    fs,
    git,
    http,
    lifecycle,
    pipeline,
    process,
    sei,
)
from sei_assets.scenarios.dialects.lifecycle.providers.base import Verb

VERBS: dict[str, Verb] = {
    v.name: v for module in (fs, git, http, lifecycle, pipeline, process, sei) for v in module.VERBS
}

#: Providers whose `up`/`down` make a scenario's lifecycle (the default teardown is `.down`).
LIFECYCLE_PROVIDERS = tuple(
    sorted(
        {n.split(".")[0] for n in VERBS if n.endswith(".up")}
        & {n.split(".")[0] for n in VERBS if n.endswith(".down")}
    )
)
