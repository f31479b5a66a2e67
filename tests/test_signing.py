"""Signed evidence: reference signatures verify, tampering is caught, our own keys round-trip."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sei_assets.core import signing
from sei_assets.core.errors import SeiError, VerificationError
from tests.reference import blob, commits, replay

QUICKSTART_LAST = len(commits("quickstart")) - 1
LOAN_LAST = len(commits("loan-scoring")) - 1
LOAN_CONFORMANCE = 4  # first loan-scoring commit with PUBKEY.txt and five conformance files


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("quickstart")
    replay("quickstart", repo)
    return repo


@pytest.fixture(scope="module")
def loan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("loan")
    replay("loan-scoring", repo)
    return repo


@pytest.fixture
def evidence_copy(quickstart: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the quickstart evidence, as a repository of its own."""
    shutil.copytree(quickstart / ".froga", tmp_path / ".froga")
    return tmp_path / ".froga"


def _names(verdict: signing.EvidenceVerdict) -> list[str]:
    return sorted(f.path.relative_to(verdict.evidence_dir).as_posix() for f in verdict.files)


def _flip(path: Path, position: int, mask: int = 0x01) -> bytes:
    """Flip bits of one byte of ``path`` in place; return the original bytes."""
    original = path.read_bytes()
    changed = bytearray(original)
    changed[position] ^= mask
    path.write_bytes(bytes(changed))
    return original


# --------------------------------------------------------------------------- the reference


def test_quickstart_reference_signatures_verify(quickstart: Path) -> None:
    verdict = signing.verify_evidence(quickstart)
    assert verdict.ok, [(f.path, f.reason) for f in verdict.failures]
    assert verdict.evidence_dir == quickstart / ".froga"
    assert verdict.pubkey_source == "repository"
    assert (
        verdict.pubkey_hex
        == blob("quickstart", QUICKSTART_LAST, ".froga/PUBKEY.txt").decode().strip()
    )
    assert _names(verdict) == [
        "bundle.json",
        "conformance/iso_23894_2023.json",
        "reconstruct.json",
    ]
    assert all(f.reason == "signature verified" for f in verdict.files)
    verdict.raise_for_failure()  # no error when everything verifies


def test_loan_scoring_full_history_verifies(loan: Path) -> None:
    verdict = signing.verify_evidence(loan)
    assert verdict.ok, [(f.path, f.reason) for f in verdict.failures]
    assert verdict.evidence_dir == loan / ".venth"
    assert len(verdict.files) == 7
    assert sum(n.startswith("conformance/") for n in _names(verdict)) == 5
    keyid = signing.keyid_for(verdict.pubkey_hex)
    assert {f.keyid for f in verdict.files} == {keyid}


def test_loan_scoring_at_conformance_commit(tmp_path: Path) -> None:
    replay("loan-scoring", tmp_path, upto=LOAN_CONFORMANCE)
    verdict = signing.verify_evidence(tmp_path)
    assert verdict.ok
    assert _names(verdict) == [
        "bundle.json",
        "conformance/eu_dora_2022.json",
        "conformance/eu_pren-18228_2026.json",
        "conformance/eu_pren-18282_2026.json",
        "conformance/eu_pren-18283_2026.json",
        "conformance/iso_23894_2023.json",
        "reconstruct.json",
    ]


def test_early_bundle_needs_a_pinned_key(tmp_path: Path) -> None:
    """loan-scoring before commit 4 has a signed bundle but no PUBKEY.txt."""
    replay("loan-scoring", tmp_path, upto=1)
    with pytest.raises(SeiError, match=r"\.venth.*PUBKEY\.txt"):
        signing.verify_evidence(tmp_path)
    pinned = blob("loan-scoring", LOAN_LAST, ".venth/PUBKEY.txt").decode()
    verdict = signing.verify_evidence(tmp_path, pubkey_hex=pinned)
    assert verdict.ok and verdict.pubkey_source == "pinned"
    assert _names(verdict) == ["bundle.json"]


def test_signature_is_over_the_dsse_pae(quickstart: Path) -> None:
    """The reference signs PAE(type, payload), not the raw payload."""
    env = json.loads((quickstart / ".froga/bundle.json.sig").read_bytes())
    payload = base64.b64decode(env["payload"])
    raw = base64.b64decode(env["signatures"][0]["sig"])
    public, _ = signing._public_key(signing.verify_evidence(quickstart).pubkey_hex)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import utils

    der = utils.encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    public.verify(der, signing.pae(env["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(der, payload, ec.ECDSA(hashes.SHA256()))


def test_reference_envelopes_are_reproduced_byte_for_byte(loan: Path) -> None:
    """Our serialisation of the reference's own statement and signature gives its exact bytes."""
    for sig in sorted((loan / ".venth").rglob("*.sig")):
        original = sig.read_bytes()
        entry = json.loads(original)["signatures"][0]
        target = sig.with_name(sig.name[:-4])
        name = signing.subject_name(target)
        payload = signing.statement_for(target.read_bytes(), name, tool="venth")
        rebuilt = signing._canonical_json(
            {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": signing.PAYLOAD_TYPE,
                "signatures": [{"keyid": entry["keyid"], "sig": entry["sig"]}],
            }
        )
        assert rebuilt == original, sig


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("which", ["bundle.json", "conformance/iso_23894_2023.json"])
@pytest.mark.parametrize("position", [0, 1, 100, -2, -1])
def test_flipped_byte_in_signed_file_fails(evidence_copy: Path, which: str, position: int) -> None:
    target = evidence_copy / which
    _flip(target, position % target.stat().st_size)
    verdict = signing.verify_evidence(evidence_copy.parent)
    assert not verdict.ok
    [bad] = verdict.failures
    assert bad.path == target
    assert "sha256" in bad.reason


def _envelope_spans(envelope: bytes) -> dict[str, tuple[int, int]]:
    """Byte spans of the payload and sig values inside an envelope."""
    spans = {}
    for key in ("payload", "sig"):
        text = (
            json.loads(envelope)["payload"]
            if key == "payload"
            else json.loads(envelope)["signatures"][0]["sig"]
        )
        start = envelope.index(text.encode())
        spans[key] = (start, start + len(text))
    return spans


@pytest.mark.parametrize("part", ["payload", "sig"])
def test_flipped_byte_in_envelope_part_fails(evidence_copy: Path, part: str) -> None:
    sig = evidence_copy / "bundle.json.sig"
    start, end = _envelope_spans(sig.read_bytes())[part]
    # first, second, middle, the last two characters (padding and the one before it)
    for position in (start, start + 1, (start + end) // 2, end - 2, end - 1):
        for mask in (0x01, 0x02, 0x20):
            original = _flip(sig, position, mask)
            verdict = signing.verify_file(evidence_copy / "bundle.json", _repo_key(evidence_copy))
            sig.write_bytes(original)
            assert not verdict.ok, (part, position, mask)
            assert verdict.reason


def _repo_key(evidence_dir: Path) -> str:
    return (evidence_dir / "PUBKEY.txt").read_text()


def test_every_single_byte_flip_of_the_envelope_fails(evidence_copy: Path) -> None:
    """Exhaustive: no byte of the envelope can change (three ways) and still verify."""
    sig = evidence_copy / "bundle.json.sig"
    original = sig.read_bytes()
    key = _repo_key(evidence_copy)
    passed = []
    for position in range(len(original)):
        for mask in (0x01, 0x20, 0x80):
            changed = bytearray(original)
            changed[position] ^= mask
            sig.write_bytes(bytes(changed))
            if signing.verify_file(evidence_copy / "bundle.json", key).ok:
                passed.append((position, mask))
    sig.write_bytes(original)
    assert passed == []
    assert signing.verify_file(evidence_copy / "bundle.json", key).ok


def test_every_single_byte_flip_of_pubkey_fails(evidence_copy: Path) -> None:
    pubkey = evidence_copy / "PUBKEY.txt"
    original = pubkey.read_bytes()
    for position in range(len(original)):
        for mask in (0x01, 0x20):
            _flip(pubkey, position, mask)
            verdict = signing.verify_evidence(evidence_copy.parent)
            pubkey.write_bytes(original)
            assert not verdict.ok, (position, mask)
            assert all(f.reason for f in verdict.files)
    assert signing.verify_evidence(evidence_copy.parent).ok


def test_pinned_wrong_key_fails(quickstart: Path, loan: Path) -> None:
    other = blob("loan-scoring", LOAN_LAST, ".venth/PUBKEY.txt").decode()
    verdict = signing.verify_evidence(quickstart, pubkey_hex=other)
    assert not verdict.ok and verdict.pubkey_source == "pinned"
    assert all("not by this public key" in f.reason for f in verdict.files)
    with pytest.raises(VerificationError, match="bundle.json"):
        verdict.raise_for_failure()
    assert verdict.keyid == signing.keyid_for(other)
    fresh = signing.public_key_hex(ec.generate_private_key(ec.SECP256R1()))
    assert not signing.verify_evidence(loan, pubkey_hex=fresh).ok
    assert not signing.verify_evidence(loan, pubkey_hex="04" + "00" * 64).ok
    garbage = signing.verify_evidence(loan, pubkey_hex="not hex")
    assert not garbage.ok and garbage.keyid is None


def test_missing_sig_for_bundle_fails(evidence_copy: Path) -> None:
    (evidence_copy / "bundle.json.sig").unlink()
    verdict = signing.verify_evidence(evidence_copy.parent)
    assert not verdict.ok
    [bad] = verdict.failures
    assert bad.path == evidence_copy / "bundle.json"
    assert "no bundle.json.sig" in bad.reason


def test_sig_without_its_file_fails(evidence_copy: Path) -> None:
    (evidence_copy / "reconstruct.json").unlink()
    [bad] = signing.verify_evidence(evidence_copy.parent).failures
    assert "missing" in bad.reason


def test_swapped_envelope_fails(evidence_copy: Path) -> None:
    shutil.copyfile(evidence_copy / "reconstruct.json.sig", evidence_copy / "bundle.json.sig")
    [bad] = signing.verify_evidence(evidence_copy.parent).failures
    assert "reconstruct.json" in bad.reason and "bundle.json" in bad.reason


def test_no_evidence_no_sigs(tmp_path: Path) -> None:
    with pytest.raises(SeiError, match=r"no evidence directory in .*\.sei"):
        signing.verify_evidence(tmp_path)
    (tmp_path / ".venth").mkdir()
    (tmp_path / ".venth" / "bundle.json").write_text("{}")
    with pytest.raises(SeiError, match=r"\.venth"):
        signing.verify_evidence(tmp_path)
    with pytest.raises(SeiError, match="does not exist"):
        signing.verify_evidence(tmp_path, evidence_dir=Path("elsewhere"))


def test_quickstart_before_any_signature(tmp_path: Path) -> None:
    replay("quickstart", tmp_path, upto=1)  # PUBKEY.txt but nothing signed yet
    with pytest.raises(SeiError, match=r"no signed evidence .*\.froga"):
        signing.verify_evidence(tmp_path)


# --------------------------------------------------------------------------- our own keys


@pytest.fixture
def key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "nested" / "signing-key.pem"
    monkeypatch.setenv(signing.KEY_ENV, str(path))
    return path


def test_key_is_created_private_and_reused(key_path: Path) -> None:
    assert signing.default_key_path() == key_path
    key = signing.load_or_create_key()
    assert isinstance(key.curve, ec.SECP256R1)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = signing.load_or_create_key()
    assert signing.public_key_hex(again) == signing.public_key_hex(key)
    assert [p.name for p in key_path.parent.iterdir()] == [key_path.name]


def test_default_key_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert signing.default_key_path() == tmp_path / "xdg" / "sei-assets" / "signing-key.pem"


def test_bad_key_files_are_refused(key_path: Path) -> None:
    key_path.parent.mkdir(parents=True)
    key_path.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    key_path.chmod(0o600)  # private, so that the content is what is refused
    with pytest.raises(SeiError, match=re.escape(str(key_path))):
        signing.load_or_create_key()
    p384 = ec.generate_private_key(ec.SECP384R1())
    key_path.write_bytes(
        p384.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    with pytest.raises(SeiError, match="P-256"):
        signing.load_or_create_key()
    key_path.unlink()
    key_path.mkdir()  # unreadable as a file
    with pytest.raises(SeiError, match=re.escape(str(key_path))):
        signing.load_or_create_key()


def test_round_trip_matches_reference_shape(key_path: Path, quickstart: Path) -> None:
    key = signing.load_or_create_key()
    repo = key_path.parent.parent.parent / "repo"
    evidence = repo / ".sei"
    (evidence / "conformance").mkdir(parents=True)
    bundle = evidence / "bundle.json"
    bundle.write_bytes(b'{"gate":"GREEN"}\n')
    conf = evidence / "conformance" / "iso_23894_2023.json"
    conf.write_bytes(b"{}")
    assert signing.sign_file(bundle, key) == evidence / "bundle.json.sig"
    signing.sign_file(conf, key)
    assert signing.write_pubkey(evidence, key).read_text() == signing.public_key_hex(key) + "\n"

    ours = (evidence / "bundle.json.sig").read_bytes()
    theirs = (quickstart / ".froga" / "bundle.json.sig").read_bytes()
    assert ours.startswith(b'{"payload":"') and b" " not in ours and not ours.endswith(b"\n")
    env, ref = json.loads(ours), json.loads(theirs)
    assert list(env) == list(ref) == ["payload", "payloadType", "signatures"]
    assert env["payloadType"] == ref["payloadType"]
    assert [list(s) for s in env["signatures"]] == [list(s) for s in ref["signatures"]]
    assert len(base64.b64decode(env["signatures"][0]["sig"])) == 64
    point = bytes.fromhex(signing.public_key_hex(key))
    assert len(point) == 65 and point[0] == 4
    assert env["signatures"][0]["keyid"] == hashlib.sha256(point).hexdigest()

    statement = json.loads(base64.b64decode(env["payload"]))
    reference = json.loads(base64.b64decode(ref["payload"]))
    assert statement["predicate"] == {"statement_version": 1, "tool": "sei"}
    del statement["predicate"]["tool"], reference["predicate"]["tool"]
    assert statement.keys() == reference.keys()
    assert statement["_type"] == reference["_type"]
    assert statement["predicateType"] == reference["predicateType"]
    assert statement["subject"] == [
        {
            "digest": {"sha256": hashlib.sha256(bundle.read_bytes()).hexdigest()},
            "name": "bundle.json",
        }
    ]
    assert base64.b64decode(env["payload"]) == signing.statement_for(
        bundle.read_bytes(), "bundle.json"
    )
    conf_env = json.loads((evidence / "conformance" / "iso_23894_2023.json.sig").read_bytes())
    conf_statement = json.loads(base64.b64decode(conf_env["payload"]))
    assert conf_statement["subject"][0]["name"] == "conformance/iso_23894_2023.json"

    verdict = signing.verify_evidence(repo)
    assert verdict.ok and verdict.pubkey_source == "repository"
    assert verdict.evidence_dir == evidence and len(verdict.files) == 2
    assert signing.verify_file(bundle, signing.public_key_hex(key)).ok
    assert signing.verify_evidence(repo, pubkey_hex=signing.public_key_hex(key)).ok


def test_every_byte_of_our_file_is_bound(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    target = tmp_path / ".sei" / "reconstruct.json"
    target.parent.mkdir()
    target.write_bytes(b'{"steps":[1,2,3],"ok":true}')
    signing.sign_file(target, key)
    pub = signing.public_key_hex(key)
    assert signing.verify_file(target, pub).ok
    original = target.read_bytes()
    for position in range(len(original)):
        _flip(target, position)
        assert not signing.verify_file(target, pub).ok, position
        target.write_bytes(original)


def test_sei_dir_wins_over_older_names(tmp_path: Path, quickstart: Path) -> None:
    shutil.copytree(quickstart / ".froga", tmp_path / ".froga")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / ".sei").mkdir()
    (tmp_path / ".sei" / "bundle.json").write_bytes(b"{}")
    signing.sign_file(tmp_path / ".sei" / "bundle.json", key)
    signing.write_pubkey(tmp_path / ".sei", key)
    verdict = signing.verify_evidence(tmp_path)
    assert verdict.ok and verdict.evidence_dir == tmp_path / ".sei"
    froga = signing.verify_evidence(tmp_path, evidence_dir=Path(".froga"))
    assert froga.ok and len(froga.files) == 3


def test_import_is_light() -> None:
    code = (
        "import sys, sei_assets.core.signing; "
        "print(','.join(m for m in ('pydantic', 'pandas', 'dagster', 'sklearn', 'yaml', "
        "'cryptography.hazmat.primitives.serialization.ssh') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert out.stdout.strip() == ""
