"""An append-only transparency log of evidence sets and decision records (a local file log).

Every evidence set's signed index (its sha256) and every signed decision record is appended as
one leaf of a Merkle tree in the RFC 6962 / 9162 shape (:mod:`merkle`). After each append the
log signs its tree head (size, root, time) with its own P-256 key; the head is one small JSON
file (``head.json``) an organisation can publish. A verifier checks, against the last head it
saw (remembered per log key) or the head it is given:

- the log matches its signed head (else it was altered or truncated);
- the reference head is signed by the log's key (else: wrong log key);
- the reference head is a prefix of the log (a consistency proof; a smaller log is a rollback or
  truncation, a different prefix a fork);
- the repository's evidence index is a leaf of the log (an inclusion proof).

The log folder is ``$SEI_LOG``, else ``<config>/sei-assets/log``: ``leaves`` (one leaf a line,
``evidence sha256:<hex>`` or ``decision sha256:<hex>``), ``head.json``, ``log-key.pem``. A leaf
already in the log is not appended twice; a log holding one twice is refused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core import merkle
from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write, sha256_bytes

LOG_ENV = "SEI_LOG"
LOG_KEY_ENV = "SEI_LOG_KEY"
LEAVES = "leaves"
HEAD = "head.json"
KEY = "log-key.pem"
SEEN = "log_heads_seen.json"
_LEAF = re.compile(r"(evidence|decision) sha256:[0-9a-f]{64}")
MAX_LEAVES = 1_000_000


def log_dir() -> Path:
    """The log folder in force."""
    override = os.environ.get(LOG_ENV)
    if override:
        return Path(override).expanduser()
    from sei_assets.core.trust import config_dir

    return config_dir() / "log"


def leaf_for(kind: str, data: bytes) -> str:
    """The leaf text of an evidence index's or a decision record's exact bytes."""
    return f"{kind} sha256:{sha256_bytes(data)}"


# --------------------------------------------------------------------------- tree heads


def head_text(head: dict[str, Any]) -> bytes:
    """The bytes a tree head's signature covers (a checkpoint: origin, size, root, time)."""
    return (
        f"sei-assets transparency log\n{head['origin']}\n{head['tree_size']}\n"
        f"{head['root_hash']}\n{head['timestamp']}\n"
    ).encode("ascii")


def sign_head(size: int, root: bytes, key: Any) -> dict[str, Any]:
    """A signed tree head of ``size`` leaves and ``root``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from sei_assets.core import signing

    pubkey = signing.public_key_hex(key)
    head = {
        "origin": signing.keyid_for(pubkey),
        "tree_size": size,
        "root_hash": root.hex(),
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pubkey": pubkey,
    }
    der = key.sign(head_text(head), ec.ECDSA(hashes.SHA256()))
    return head | {"signature": base64.b64encode(der).decode("ascii")}


def head_problem(head: Any, pubkey_hex: str) -> str | None:
    """Why ``head`` is not a well-formed tree head signed by ``pubkey_hex``, or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from sei_assets.core import signing

    try:
        public, keyid = signing._public_key(pubkey_hex.strip())
    except ValueError as exc:
        return f"log key: {exc}"
    try:
        size, root_hex = head["tree_size"], head["root_hash"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return "tree_size: expected a count of leaves"
        if not re.fullmatch(r"[0-9a-f]{64}", root_hex):
            return "root_hash: expected 64 hex digits"
        der = base64.b64decode(head["signature"], validate=True)
        text = head_text(head)
    except (KeyError, TypeError, ValueError):
        return "not a tree head (origin, tree_size, root_hash, timestamp, signature)"
    if head.get("origin") != keyid:
        return f"not signed by the log key {keyid[:16]}… (origin {str(head.get('origin'))[:16]}…)"
    try:
        public.verify(der, text, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return f"the signature is not the log key's ({keyid[:16]}…)"
    return None


def read_head(path: Path) -> dict[str, Any]:
    """A tree head file (bounded read), or SeiError naming it."""
    from sei_assets.core import safeload

    doc = safeload.load_json(path, "tree head", max_bytes=64 * 1024)
    if not isinstance(doc, dict):
        raise SeiError(f"{path}: expected a tree head (a JSON object)")
    return doc


# --------------------------------------------------------------------------- the local log


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_leaves(folder: Path) -> list[str]:
    """The log's leaves, in order; SeiError on a line that is not a leaf."""
    path = Path(folder) / LEAVES
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SeiError(f"{path}: cannot read the log ({exc.strerror})") from None
    lines = raw.decode("ascii", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LEAVES:
        raise SeiError(f"{path}: more than {MAX_LEAVES} leaves")
    for n, line in enumerate(lines, 1):
        if not _LEAF.fullmatch(line):
            raise SeiError(f"{path}:{n}: not a log leaf (expected 'evidence|decision sha256:…')")
    return lines


def append(kind: str, data: bytes, folder: Path | None = None) -> tuple[int, dict[str, Any]]:
    """Append the leaf of ``data`` (once: a leaf already there keeps its index) and sign the new
    head; the leaf's index and the head."""
    from sei_assets.core import signing

    folder = Path(folder) if folder is not None else log_dir()
    leaf = leaf_for(kind, data)
    with _locked(folder):
        key = signing.load_or_create_key(folder / KEY)
        leaves = read_leaves(folder)
        if leaf in leaves:
            index = leaves.index(leaf)
        else:
            with open(folder / LEAVES, "a", encoding="ascii") as fh:
                fh.write(leaf + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            leaves.append(leaf)
            index = len(leaves) - 1
        hashes_ = [merkle.leaf_hash(x.encode("ascii")) for x in leaves]
        head = sign_head(len(leaves), merkle.root(hashes_), key)
        atomic_write(folder / HEAD, json.dumps(head, indent=2) + "\n")
    return index, head


def record(kind: str, data: bytes) -> bool:
    """Append to the log in force (``$SEI_LOG=off`` turns the log off). A log that cannot be
    written (a read-only sandbox) does not undo what was already written: a warning on stderr,
    and ``sei verify --log`` then refuses the evidence as not in the log. Whether appended."""
    if os.environ.get(LOG_ENV) == "off":
        return False
    try:
        append(kind, data)
    except (OSError, SeiError) as exc:
        import sys

        sys.stderr.write(f"warning: not appended to the transparency log {log_dir()}: {exc}\n")
        return False
    return True


def log_pubkey(folder: Path | None = None) -> str:
    """The log's public key (hex), creating the log's key on first use."""
    from sei_assets.core import signing

    folder = Path(folder) if folder is not None else log_dir()
    with _locked(folder):
        return signing.public_key_hex(signing.load_or_create_key(folder / KEY))


# --------------------------------------------------------------------------- verification


@dataclass
class LogVerdict:
    """The log check of one repository's evidence: ok, the head in force, what was checked."""

    ok: bool
    head: dict[str, Any] | None
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _seen_path() -> Path:
    from sei_assets.core.trust import config_dir

    return config_dir() / SEEN


def last_seen(origin: str | None = None) -> dict[str, Any] | None:
    """The last verified head of the log ``origin`` (or of the only log seen), or None."""
    from sei_assets.core import safeload

    path = _seen_path()
    if not path.is_file():
        return None
    seen = safeload.load_json(path, "heads seen")
    if not isinstance(seen, dict):
        return None
    if origin is None:
        return next(iter(seen.values()), None) if len(seen) == 1 else None
    head = seen.get(origin)
    return head if isinstance(head, dict) else None


def _remember(head: dict[str, Any]) -> None:
    from sei_assets.core import safeload

    path = _seen_path()
    seen = safeload.load_json(path, "heads seen") if path.is_file() else {}
    seen = seen if isinstance(seen, dict) else {}
    seen[head["origin"]] = head
    atomic_write(path, json.dumps(seen, indent=2) + "\n")


def verify(
    evidence_index: bytes | None,
    given: dict[str, Any] | None = None,
    folder: Path | None = None,
    pubkey_hex: str | None = None,
    remember: bool = True,
) -> LogVerdict:
    """Check the log against its signed head, a reference head (``given``, else the last one
    seen) by consistency, and ``evidence_index`` by inclusion; remember the head when all hold.

    The log key: ``pubkey_hex``, else ``$SEI_LOG_KEY``, else the one the ``given`` head names,
    else the key of the one log this machine saw, else the log's own (trusted on first use,
    said so)."""
    folder = Path(folder) if folder is not None else log_dir()
    out = LogVerdict(False, None)
    try:
        current = read_head(folder / HEAD)
    except SeiError as exc:
        out.problems.append(f"no signed tree head in the log {folder}: {exc}")
        return out
    seen = last_seen()
    key = pubkey_hex or os.environ.get(LOG_KEY_ENV) or ""
    if not key and given:
        key = str(given.get("pubkey", ""))
    if not key and seen:
        key = str(seen.get("pubkey", ""))
    if not key:
        key = str(current.get("pubkey", ""))
        out.checked.append("log key trusted on first use (pin it with $SEI_LOG_KEY)")
    bad = head_problem(current, key)
    if bad:
        out.problems.append(f"the log's tree head: {bad} (wrong log key)")
        return out
    out.head = current
    leaves = read_leaves(folder)
    dup = _duplicate(leaves)
    if dup:
        out.problems.append(f"the log holds one leaf twice (entries {dup[0]} and {dup[1]})")
        return out
    tree = merkle.Tree([merkle.leaf_hash(x.encode("ascii")) for x in leaves])
    size = current["tree_size"]
    if size != len(leaves) or tree.root().hex() != current["root_hash"]:
        out.problems.append(
            f"the log does not match its signed head ({len(leaves)} leaves, the head says "
            f"{size}): truncated or altered"
        )
        return out
    reference = given if given is not None else last_seen(current["origin"])
    if reference is not None:
        bad = head_problem(reference, key)
        if bad:
            out.problems.append(f"the reference tree head: {bad} (wrong log key)")
            return out
        ref_size, ref_root = reference["tree_size"], bytes.fromhex(reference["root_hash"])
        which = "given" if given is not None else "last seen"
        if ref_size > size:
            out.problems.append(
                f"rolled back or truncated: the log has {size} entries, the {which} head {ref_size}"
            )
            return out
        proof = tree.consistency(ref_size) if ref_size else []
        if ref_size and not merkle.verify_consistency(
            ref_size, size, ref_root, bytes.fromhex(current["root_hash"]), proof
        ):
            out.problems.append(
                f"forked: the {which} head of {ref_size} entries (root "
                f"{reference['root_hash'][:16]}…) is not a prefix of this log"
            )
            return out
        out.checked.append(f"consistent with the {which} head ({ref_size} → {size} entries)")
    if evidence_index is not None:
        leaf = leaf_for("evidence", evidence_index)
        if leaf not in leaves:
            out.problems.append(f"the evidence index ({leaf.split()[1][:23]}…) is not in the log")
            return out
        i = leaves.index(leaf)
        proof = tree.inclusion(i)
        root = bytes.fromhex(current["root_hash"])
        if not merkle.verify_inclusion(i, size, tree.leaves[i], proof, root):
            out.problems.append("the inclusion proof of the evidence index does not verify")
            return out
        out.checked.append(f"evidence index included at entry {i} of {size}")
    out.ok = True
    if remember:
        _remember(current)
    return out


def _duplicate(leaves: list[str]) -> tuple[int, int] | None:
    first: dict[str, int] = {}
    for i, leaf in enumerate(leaves):
        if leaf in first:
            return first[leaf], i
        first[leaf] = i
    return None
