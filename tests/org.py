"""An organisation for tests: people's keys and a roster signed by an administrator key.

With no roster trusted no decision counts, so every test that needs an approval to count puts
one in force with :func:`trust_roster` (module fixtures, harness sandboxes) or the ``org``
fixture of ``tests/conftest.py`` (one test).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sei_assets.core import people, signing
from sei_assets.core import roster as rosters

QUALITY = "Quality Lead <quality@example.test>"
OWNER = "Risk Owner <owner@example.test>"
# who decides in the shared fixtures: the profile's two roles, neither the treatment's author
STAFF = {QUALITY: ["management"], OWNER: ["risk_owner"]}


@contextmanager
def _people(folder: Path) -> Iterator[None]:
    before = os.environ.get(people.PEOPLE_ENV)
    os.environ[people.PEOPLE_ENV] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(people.PEOPLE_ENV, None)
        else:
            os.environ[people.PEOPLE_ENV] = before


def trust_roster(folder: Path, entries: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Keys for each person of ``entries`` (``{"Name <email>": [roles]}``, default
    :data:`STAFF`) under ``folder/people``, a roster listing them signed by an administrator key
    under ``folder/admin``; the environment that makes ``sei`` use them (nothing is set here)."""
    folder = Path(folder)
    entries = STAFF if entries is None else entries
    admin = signing.load_or_create_key(folder / "admin" / "admin.pem")
    listed = []
    with _people(folder / "people"):
        for who, roles in entries.items():
            if not people.has_key(who):
                people.new_key(who)
            key = signing.public_key_hex(people.load_key(who))
            listed.append({"id": who, "roles": roles, "keys": [key]})
    path = folder / "roster.json"
    path.write_text(json.dumps({"organisation": "Example", "people": listed}, indent=2))
    rosters.sign(path, admin)
    return {
        people.PEOPLE_ENV: str(folder / "people"),
        rosters.ROSTER_ENV: str(path),
        rosters.ADMIN_ENV: signing.public_key_hex(admin),
    }
