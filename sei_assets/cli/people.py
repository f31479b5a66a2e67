"""`sei keys` (people's signing keys) and `sei roster` (who may decide what)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode

keys_app = typer.Typer(no_args_is_help=True, help="People's signing keys for their decisions.")
roster_app = typer.Typer(
    no_args_is_help=True, help="The organisation's roster: who may decide what."
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(exc: SeiError) -> None:
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(exc.exit_code)


@keys_app.command("new")
def new(
    person: Annotated[str, typer.Option("--person", help='Whose key: "Name <email>".')],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create a person's key under the user's configuration (never in a repository); print its
    public key, which the roster lists for the person."""
    from sei_assets.core import people, signing

    try:
        path, hexkey = people.new_key(person)
    except SeiError as exc:
        _fail(exc)
    if as_json:
        doc = {"person": person, "key": str(path), "pubkey": hexkey}
        sys.stdout.write(json.dumps(doc | {"keyid": signing.keyid_for(hexkey)}) + "\n")
        return
    out.print(f"key of {person}: {path}")
    out.print(hexkey)


@keys_app.command("token-new")
def token_new() -> None:
    """Generate the signing key inside the PKCS#11 token named by $SEI_PKCS11_* (never
    extractable); print its public key. Sign with it: SEI_SIGNER=pkcs11."""
    from sei_assets.core import signer, signing

    try:
        key = signer.generate_token_key()
        out.print(signing.public_key_hex(key))
    except SeiError as exc:
        _fail(exc)


@roster_app.command("sign")
def sign(
    roster: Annotated[Path, typer.Argument(help="The roster file (JSON).")],
    admin_key: Annotated[Path, typer.Option("--admin-key", help="The administrator's PEM key.")],
) -> None:
    """Sign a roster with the administrator's key (writes ROSTER.sig); print the admin pubkey."""
    from sei_assets.core import roster as rosters
    from sei_assets.core import signing

    try:
        key = signing.load_or_create_key(admin_key)
        target = rosters.sign(roster, key)
    except SeiError as exc:
        _fail(exc)
    out.print(f"signed: {target}")
    out.print(signing.public_key_hex(key))


@roster_app.command("trust")
def trust(
    roster: Annotated[Path, typer.Argument(help="The roster file to trust.")],
    admin: Annotated[str, typer.Option("--admin", help="Administrator public key (hex).")],
) -> None:
    """Trust this roster, signed by this administrator key, for every decision read here."""
    from sei_assets.core import roster as rosters

    try:
        where = rosters.trust(roster, admin)
        loaded = rosters.in_force()
    except SeiError as exc:
        _fail(exc)
    assert loaded is not None
    out.print(f"roster trusted ({len(loaded.people)} people), remembered in {where}")


@roster_app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The roster in force: people, roles, keyids."""
    from sei_assets.core import roster as rosters
    from sei_assets.core.signing import keyid_for

    try:
        loaded = rosters.in_force()
    except SeiError as exc:
        _fail(exc)
    if loaded is None:
        from sei_assets.core.counting import NO_ROSTER

        out.print(f"no roster in force: decisions are read and shown, none counts ({NO_ROSTER})")
        raise typer.Exit(ExitCode.FAILED)
    people = [
        {"id": p.id, "roles": list(p.roles), "keyids": [keyid_for(k) for k in p.keys]}
        for p in loaded.people
    ]
    if as_json:
        sys.stdout.write(json.dumps({"roster": str(loaded.path), "people": people}) + "\n")
        return
    for p in people:
        out.print(f"{p['id']}: {', '.join(p['roles']) or 'no role'}")
