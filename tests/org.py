"""An organisation for tests: people's keys and a roster signed by an administrator key.

With no roster trusted no decision counts, so every test that needs an approval to count puts
one in force: :func:`trust_roster` (module fixtures, sandboxes) or the ``org`` fixture of
``tests/conftest.py`` (one test). Both use :func:`sei_assets.core.roster.sandbox`, as the
harness's ``roster`` step does.
"""

from __future__ import annotations

from pathlib import Path

from sei_assets.core import roster as rosters

QUALITY = "Quality Lead <quality@example.test>"
OWNER = "Risk Owner <owner@example.test>"
# who decides in the shared fixtures: the profile's two roles, neither the treatment's author
STAFF = {QUALITY: ["management"], OWNER: ["risk_owner"]}


def trust_roster(folder: Path, entries: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Keys for each person of ``entries`` (``{"Name <email>": [roles]}``, default
    :data:`STAFF`) and a roster listing them, signed, in ``folder``; the environment that makes
    ``sei`` use them (nothing is set here)."""
    return rosters.sandbox(Path(folder), STAFF if entries is None else entries)
