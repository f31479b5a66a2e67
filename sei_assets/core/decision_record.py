"""Decision records signed by the deciding person (DSSE over an in-toto statement, as evidence).

A record is one JSON file under ``.sei/lifecycle/`` with its detached envelope beside it
(``<name>.json.sig``), committed in the decision's own commit, whose trailer ``Sei-Record:``
names it. It says who decided, in which role, what, about which evidence (the sha256 of the
committed evidence index, the treatment commit the evidence was made from, the residual risk
accepted), why and when, and carries the public key it was signed with. Whether a record
*counts* is not decided here but by the roster's one rule (:mod:`sei_assets.core.counting`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write, sha256_bytes
from sei_assets.core.layout import EVIDENCE_DIR

RECORD_TYPE = "https://sei-assets.dev/decision/v1"
TOOL = "sei-decision"
FOLDER = f"{EVIDENCE_DIR}/lifecycle"
TRAILER = "Sei-Record"
INDEX_PATH = f"{EVIDENCE_DIR}/index.json"
BUNDLE_PATH = f"{EVIDENCE_DIR}/bundle.json"
MAX_RECORD = 64 * 1024
#: decision kind -> the profile role that takes it.
ROLE_FOR = {
    "request": "risk_owner",
    "approve": "management",
    "review": "management",
    "reject": "management",
    "retire": "management",
}


def now_z() -> str:
    """The current time as ISO 8601 UTC with ``Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evidence_about(repo: Path, rev: str = "HEAD") -> dict[str, str | None]:
    """What an approval at ``rev`` is about: the committed evidence index's sha256 and the
    treatment commit the evidence was made from (the bundle's ``triple.code``)."""
    from sei_assets.core.gitutil import blob_at

    index = blob_at(repo, rev, INDEX_PATH)
    raw = blob_at(repo, rev, BUNDLE_PATH)
    treatment = None
    if raw:
        try:
            doc = json.loads(raw[: 16 * 1024 * 1024])
            treatment = ((doc.get("triple") or {}).get("code")) if isinstance(doc, dict) else None
        except (ValueError, RecursionError):
            treatment = None
    return {
        "evidence_index": "sha256:" + sha256_bytes(index) if index else None,
        "treatment_commit": treatment if isinstance(treatment, str) else None,
    }


def build(
    kind: str,
    by: str,
    role: str,
    pubkey_hex: str,
    about: dict[str, Any],
    reason: str | None = None,
    time: str | None = None,
) -> dict[str, Any]:
    """The record of one decision (not yet signed)."""
    return {
        "_type": RECORD_TYPE,
        "decision": kind,
        "by": by,
        "role": role,
        "about": about,
        "reason": reason,
        "time": time or now_z(),
        "pubkey": pubkey_hex,
    }


def sign_decision(
    repo: Path, kind: str, by: str, role: str | None, key: Any, extra: dict[str, str]
) -> str:
    """Build, sign and write the record of ``kind`` by ``by`` (in ``role``, by default the role
    that takes it) about the evidence committed at HEAD; the record's path."""
    from sei_assets.core import signing

    about: dict[str, Any] = {}
    if kind == "approve":
        about = {**evidence_about(repo), "residual_accepted": extra.get("Sei-Residual-Accepted")}
    record = build(
        kind,
        by,
        role or ROLE_FOR[kind],
        signing.public_key_hex(key),
        about,
        reason=extra.get("Sei-Reason"),
    )
    return write(repo, record, key)


def write(repo: Path, record: dict[str, Any], key: Any) -> str:
    """Write ``record`` and its envelope under ``.sei/lifecycle/``; the record's path (repo
    relative). The name is the time, the decision and the record's digest: never reused."""
    from sei_assets.core import signing

    data = (json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    stamp = record["time"].replace("-", "").replace(":", "")
    name = f"{stamp}-{record['decision']}-{sha256_bytes(data)[:12]}.json"
    rel = f"{FOLDER}/{name}"
    target = Path(repo) / rel
    if target.exists():
        raise SeiError(f"{rel} exists already: a decision record is never overwritten")
    envelope = signing.sign_bytes(data, f"lifecycle/{name}", key, tool=TOOL)
    atomic_write(target.with_name(name + ".sig"), envelope)
    atomic_write(target, data)
    return rel


@dataclass(frozen=True)
class Checked:
    """A record read at a commit: its content and keyid when its signature verifies, else the
    problem (a sentence)."""

    rel: str
    record: dict[str, Any] | None
    keyid: str | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def is_signed_record(repo: Path, rel: str, rev: str = "HEAD") -> bool:
    """Whether ``rel`` at ``rev`` claims to be a signed record of this engine (under
    ``.sei/lifecycle/`` with an envelope beside it): the reference's records are not."""
    from sei_assets.core.gitutil import object_id

    return rel.startswith(FOLDER + "/") and object_id(repo, rev, rel + ".sig") is not None


def check(repo: Path, rel: str, rev: str = "HEAD") -> Checked:
    """Read the record ``rel`` and its envelope at ``rev`` and check the signature against the
    public key the record carries (who that key belongs to is the roster's question)."""
    from sei_assets.core import safeload, signing
    from sei_assets.core.gitutil import blob_at

    def bad(problem: str, record: dict[str, Any] | None = None) -> Checked:
        return Checked(rel, record, None, problem)

    if not rel.startswith(FOLDER + "/") or ".." in rel.split("/") or not rel.endswith(".json"):
        return bad(f"{rel}: not a decision record path (expected {FOLDER}/*.json)")
    data = blob_at(repo, rev, rel)
    if data is None:
        return bad(f"the decision record {rel} is not committed")
    envelope = blob_at(repo, rev, rel + ".sig")
    if envelope is None:
        return bad(f"the decision record {rel} has no signature ({rel}.sig is missing)")
    if len(data) > MAX_RECORD or len(envelope) > MAX_RECORD:
        return bad(f"the decision record {rel} is larger than {MAX_RECORD} bytes")
    try:
        record = safeload.parse_json(rel, safeload.decode(rel, data, "decision record"))
    except SeiError as exc:
        return bad(str(exc))
    if not isinstance(record, dict) or record.get("_type") != RECORD_TYPE:
        return bad(f"{rel}: _type: expected {RECORD_TYPE}")
    pubkey = record.get("pubkey")
    try:
        public, keyid = signing._public_key(str(pubkey))
    except ValueError as exc:
        return bad(f"{rel}: pubkey: {exc}", record)
    problem = envelope_problem(envelope, data, "lifecycle/" + rel.rsplit("/", 1)[1], public, keyid)
    if problem:
        return bad(f"{rel}: the signature does not verify ({problem})", record)
    return Checked(rel, record, keyid, None)


def envelope_problem(
    envelope: bytes, data: bytes, name: str, public: Any, keyid: str, tool: str = TOOL
) -> str | None:
    """Why ``envelope`` does not sign ``data`` as ``name`` under ``public``, or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from sei_assets.core import dsse, signing

    try:
        payload, sigs = dsse.open_envelope(envelope)  # strict: unique keys, bounded depth
        (sig,) = sigs
        raw = base64.b64decode(sig["sig"], validate=True)
    except dsse.EnvelopeError as exc:
        return f"the envelope is not a DSSE envelope of this engine: {exc}"
    except (ValueError, KeyError, TypeError, binascii.Error):
        return "the envelope is not a DSSE envelope with one signature"
    if payload != signing.statement_for(data, name, tool):
        return "the statement does not name this record's exact bytes"
    if sig.get("keyid") != keyid or len(raw) != 64:
        return "signed by another key than the record names"
    der = utils.encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    try:
        public.verify(der, signing.pae(signing.PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "bad signature"
    return None
