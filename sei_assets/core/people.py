"""People's signing keys: one P-256 key per deciding person, kept like the machine key.

A person's key lives under the user's configuration folder (``$SEI_PEOPLE_KEYS``, else
``<config>/sei-assets/people/``), one PEM file per identity, named by the sha256 of the
normalised ``Name <email>``; it is refused inside a git work tree, as the machine key is. Its
public half is what an organisation's roster lists for the person (see :mod:`roster`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError

PEOPLE_ENV = "SEI_PEOPLE_KEYS"


def people_dir() -> Path:
    """Where people's keys are kept on this machine."""
    override = os.environ.get(PEOPLE_ENV)
    if override:
        return Path(override).expanduser()
    from sei_assets.core.trust import config_dir

    return config_dir() / "people"


def key_path(identity: str, folder: Path | None = None) -> Path:
    """The key file of ``identity`` (``Name <email>``, normalised) in ``folder`` (default: this
    machine's people's keys)."""
    from sei_assets.core.governance import check_identity

    who = check_identity(identity, "person")
    name = f"{hashlib.sha256(who.encode('utf-8')).hexdigest()[:32]}.pem"
    return (people_dir() if folder is None else Path(folder)) / name


def new_key(identity: str, folder: Path | None = None) -> tuple[Path, str]:
    """Create ``identity``'s key (refused when one exists); its path and public key (hex)."""
    from sei_assets.core import signing

    path = key_path(identity, folder)
    if path.exists() or path.is_symlink():
        raise SeiError(f"{identity}: a key already exists ({path}); it is never replaced")
    key = signing.load_or_create_key(path)
    return path, signing.public_key_hex(key)


def has_key(identity: str) -> bool:
    """Whether this machine holds ``identity``'s key."""
    return key_path(identity).is_file()


def load_key(identity: str) -> Any:
    """``identity``'s private key, or SeiError saying how to create it."""
    from sei_assets.core import signing

    path = key_path(identity)
    if not path.is_file():
        raise SeiError(
            f"no key for {identity} on this machine: create one with "
            f"`sei keys new --person '{identity}'` and have it added to the roster"
        )
    return signing.load_or_create_key(path)
