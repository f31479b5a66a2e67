"""The organisation's roster: who may decide what, signed by an administrator key.

A roster is a JSON file::

    {"organisation": "Example Loan Corp",
     "people": [{"id": "Quality Lead <quality@example.com>",
                 "roles": ["management"],
                 "keys": ["04ab..."]}]}

``roles`` are the profile's roles (``risk_owner``, ``management``); ``keys`` the hex public
points of the person's keys (``sei keys new --person``). Beside it, ``<file>.sig`` is a DSSE
envelope by the administrator's key. ``sei`` trusts a roster only when told which file and which
administrator key: ``$SEI_ROSTER`` and ``$SEI_ROSTER_ADMIN`` (hex, or a file holding it), else
``roster.json`` in the configuration folder (written by ``sei roster trust``). A roster that is
named but does not verify is an error, never silently ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write

ROSTER_ENV = "SEI_ROSTER"
ADMIN_ENV = "SEI_ROSTER_ADMIN"
TOOL = "sei-roster"
SUBJECT = "roster.json"
MAX_ROSTER = 1024 * 1024


@dataclass(frozen=True)
class Person:
    """One rostered person: identity, roles, public keys (hex)."""

    id: str
    roles: tuple[str, ...]
    keys: tuple[str, ...]

    @property
    def email(self) -> str:
        return self.id.rsplit("<", 1)[-1].rstrip(">").strip().lower()


@dataclass(frozen=True)
class Roster:
    """A verified roster: the people by keyid."""

    path: Path
    organisation: str | None
    people: tuple[Person, ...]
    admin_keyid: str

    def person_of(self, keyid: str) -> Person | None:
        """The person holding the key ``keyid``, or None."""
        from sei_assets.core.signing import keyid_for

        for person in self.people:
            if any(keyid_for(k) == keyid for k in person.keys):
                return person
        return None


def _trust_file() -> Path:
    from sei_assets.core.trust import config_dir

    return config_dir() / "roster.json"


def configured() -> tuple[Path, str] | None:
    """The roster file and administrator key ``sei`` is told to trust, or None."""
    path, admin = os.environ.get(ROSTER_ENV), os.environ.get(ADMIN_ENV)
    if not path:
        trust_file = _trust_file()
        if not trust_file.is_file():
            return None
        from sei_assets.core import safeload

        doc = safeload.load_json(trust_file, "roster trust file")
        if not isinstance(doc, dict) or not isinstance(doc.get("roster"), str):
            raise SeiError(f"{trust_file}: roster: expected the path of the roster file")
        path, admin = doc["roster"], doc.get("admin")
    if not admin:
        raise SeiError(
            f"a roster is named ({path}) but no administrator key to verify it: set "
            f"{ADMIN_ENV} or run `sei roster trust {path} --admin <hex public key>`"
        )
    admin = str(admin).strip()
    if os.path.isfile(admin):
        admin = Path(admin).read_text(encoding="ascii", errors="replace").strip()
    return Path(path).expanduser(), admin


def trust(path: Path, admin_hex: str) -> Path:
    """Remember ``path`` as the roster to trust, signed by ``admin_hex``; after checking it."""
    path = Path(path).expanduser().resolve()
    load(path, admin_hex)
    target = _trust_file()
    atomic_write(target, json.dumps({"roster": str(path), "admin": admin_hex.strip()}) + "\n")
    return target


def in_force() -> Roster | None:
    """The trusted roster, verified; None when none is configured. SeiError when one is named
    but does not verify or does not parse."""
    named = configured()
    if named is None:
        return None
    return load(*named)


def sign(path: Path, admin_key: Any) -> Path:
    """Sign the roster file ``path`` with the administrator's key into ``path.sig``."""
    from sei_assets.core import signing

    path = Path(path)
    envelope = signing.sign_bytes(path.read_bytes(), SUBJECT, admin_key, tool=TOOL)
    target = signing.sig_path(path)
    atomic_write(target, envelope)
    return target


def load(path: Path, admin_hex: str) -> Roster:
    """Read the roster at ``path`` and check its signature by the administrator key."""
    from sei_assets.core import safeload, signing
    from sei_assets.core.decision_record import envelope_problem

    path = Path(path)
    try:
        public, admin_keyid = signing._public_key(admin_hex.strip())
    except ValueError as exc:
        raise SeiError(f"roster administrator key: {exc}") from None
    try:
        data = path.read_bytes()
        envelope = signing.sig_path(path).read_bytes()
    except OSError as exc:
        raise SeiError(f"roster {path}: cannot read it or its signature: {exc.strerror}") from None
    if len(data) > MAX_ROSTER or len(envelope) > MAX_ROSTER:
        raise SeiError(f"roster {path}: larger than {MAX_ROSTER} bytes")
    problem = envelope_problem(envelope, data, SUBJECT, public, admin_keyid, TOOL)
    if problem:
        raise SeiError(
            f"roster {path}: not signed by the trusted administrator key "
            f"{admin_keyid[:16]}… ({problem}); no decision counts until it is"
        )
    doc = safeload.parse_json(path, safeload.decode(path, data, "roster"))
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise SeiError(f"{path}: people: expected a list of {{id, roles, keys}}")
    people = []
    for n, item in enumerate(doc["people"]):
        where = f"{path}: people[{n}]"
        if not isinstance(item, dict):
            raise SeiError(f"{where}: expected an object {{id, roles, keys}}")
        from sei_assets.core.governance import check_identity

        who = check_identity(item.get("id"), f"{where}.id")
        roles, keys = item.get("roles"), item.get("keys")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise SeiError(f"{where}.roles: expected a list of role names")
        if not isinstance(keys, list) or not keys:
            raise SeiError(f"{where}.keys: expected a list of public keys (hex)")
        for k, key in enumerate(keys):
            try:
                signing._public_key(str(key).strip())
            except ValueError as exc:
                raise SeiError(f"{where}.keys[{k}]: {exc}") from None
        people.append(Person(who, tuple(roles), tuple(str(k).strip() for k in keys)))
    org = doc.get("organisation")
    return Roster(path, str(org) if org is not None else None, tuple(people), admin_keyid)


def sandbox(folder: Path, entries: dict[str, list[str]]) -> dict[str, str]:
    """A throwaway organisation in ``folder`` for a sandbox (a scenario's, a test's): a key for
    each person of ``entries`` (``{"Name <email>": [roles]}``) under ``folder/people``, and a
    roster listing them signed by a throwaway administrator key; returns the variables that make
    ``sei`` use them (nothing is set here). An existing person key is reused, never replaced."""
    from sei_assets.core import people, signing
    from sei_assets.core.decision_record import ROLE_FOR

    roles_known = sorted(set(ROLE_FOR.values()))
    folder = Path(folder)
    listed = []
    for who, roles in entries.items():
        unknown = [r for r in roles if r not in roles_known]
        if unknown:
            raise SeiError(
                f"roster: {who}: unknown role {unknown[0]!r}: expected one of "
                f"{', '.join(roles_known)}"
            )
        path = people.key_path(who, folder / "people")
        if not path.is_file():
            people.new_key(who, folder / "people")
        key = signing.public_key_hex(signing.load_or_create_key(path))
        listed.append({"id": who, "roles": list(roles), "keys": [key]})
    admin = signing.load_or_create_key(folder / "admin" / "admin.pem")
    roster = folder / "roster.json"
    atomic_write(roster, json.dumps({"organisation": "sandbox", "people": listed}, indent=2))
    sign(roster, admin)
    return {
        people.PEOPLE_ENV: str(folder / "people"),
        ROSTER_ENV: str(roster),
        ADMIN_ENV: signing.public_key_hex(admin),
    }
