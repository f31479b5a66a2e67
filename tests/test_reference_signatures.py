"""Verify oracle: every file the reference signed, at every commit of the three histories, is
accepted with the reference's own public key, and a flipped byte anywhere is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core import signing
from tests.reference import REFERENCE, commits

HISTORIES = ("loan-scoring", "quickstart", "talent-screening")


def _pubkey(name: str) -> str:
    """The reference's PUBKEY.txt (the newest commit that has one)."""
    for commit in reversed(commits(name)):
        for rel, blob_id in commit["files"].items():
            if rel.endswith("/PUBKEY.txt"):
                return (REFERENCE / name / "blobs" / blob_id).read_text().strip()
    raise AssertionError(f"{name}: no PUBKEY.txt")


# (history, commit index, path) of every signed file at every commit.
SIGNED = [
    (name, c["index"], rel)
    for name in HISTORIES
    for c in commits(name)
    for rel in sorted(c["files"])
    if rel + ".sig" in c["files"]
]
# Each distinct signed content once (a file unchanged between commits is the same bytes).
DISTINCT = list(
    {
        (name, commits(name)[i]["files"][rel], commits(name)[i]["files"][rel + ".sig"]): (
            name,
            i,
            rel,
        )
        for name, i, rel in SIGNED
    }.values()
)


def _materialise(tmp_path: Path, name: str, index: int, rel: str) -> Path:
    files = commits(name)[index]["files"]
    for part in (rel, rel + ".sig"):
        target = tmp_path / part
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REFERENCE / name / "blobs" / files[part]).read_bytes())
    return tmp_path / rel


def test_every_history_has_signed_files_at_every_evidence_commit() -> None:
    per = {(n, i) for n, i, _r in SIGNED}
    for name in HISTORIES:
        with_bundle = {
            c["index"] for c in commits(name) if any(p.endswith("/bundle.json") for p in c["files"])
        }
        assert with_bundle and {(name, i) for i in with_bundle} <= per
    kinds = {rel.rsplit("/", 1)[-1] for _n, _i, rel in SIGNED}
    assert {"bundle.json", "reconstruct.json", "iso_23894_2023.json"} <= kinds


@pytest.mark.parametrize("name,index,rel", SIGNED, ids=lambda v: str(v))
def test_reference_signature_is_accepted(tmp_path: Path, name: str, index: int, rel: str) -> None:
    path = _materialise(tmp_path, name, index, rel)
    verdict = signing.verify_file(path, _pubkey(name))
    assert verdict.ok, verdict.reason


def _positions(data: bytes, envelope: bytes) -> list[tuple[str, int]]:
    """First, middle and last byte of the signed file, and of the envelope's payload and sig."""
    out = [("file", p) for p in (0, len(data) // 2, len(data) - 1)]
    doc = json.loads(envelope)
    for part, text in (("payload", doc["payload"]), ("sig", doc["signatures"][0]["sig"])):
        start = envelope.index(text.encode())
        end = start + len(text)
        out += [(part, p) for p in (start, (start + end) // 2, end - 1)]
    return out


@pytest.mark.parametrize("name,index,rel", DISTINCT, ids=lambda v: str(v))
def test_flipped_byte_is_refused(tmp_path: Path, name: str, index: int, rel: str) -> None:
    path = _materialise(tmp_path, name, index, rel)
    sig = signing.sig_path(path)
    data, envelope = path.read_bytes(), sig.read_bytes()
    key = _pubkey(name)
    for where, position in _positions(data, envelope):
        target, original = (path, data) if where == "file" else (sig, envelope)
        changed = bytearray(original)
        changed[position] ^= 0x01
        target.write_bytes(bytes(changed))
        verdict = signing.verify_file(path, key)
        target.write_bytes(original)
        assert not verdict.ok and verdict.reason, (where, position)
    assert signing.verify_file(path, key).ok  # restored: accepted again
