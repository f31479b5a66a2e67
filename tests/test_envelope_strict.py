"""The envelope and statement checks, each pinned (issue 31): deleting any one of them makes a
test here fail. Also the pure-Python P-256 verifier of `sei status`, held to `cryptography`."""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sei_assets.core import dsse, signing
from sei_assets.core.manifest import parse_constraint

KEY = ec.generate_private_key(ec.SECP256R1())
PUB = signing.public_key_hex(KEY)
DATA = b'{"system_name": "sys", "gate": "green"}\n'


def _sign_statement(statement: dict) -> bytes:
    """An envelope signing ``statement`` (any shape) validly with KEY, in canonical form."""
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    der = KEY.sign(dsse.pae(dsse.PAYLOAD_TYPE, payload), signing._ECDSA_SHA256)
    r, s = utils.decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": dsse.PAYLOAD_TYPE,
            "signatures": [
                {"keyid": signing.keyid_for(PUB), "sig": base64.b64encode(raw).decode()}
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def _statement(**changes: object) -> dict:
    doc = json.loads(signing.statement_for(DATA, "bundle.json"))
    doc.update(changes)
    return doc


def _verdict(tmp_path: Path, envelope: bytes, data: bytes = DATA) -> signing.FileVerdict:
    (tmp_path / "bundle.json").write_bytes(data)
    (tmp_path / "bundle.json.sig").write_bytes(envelope)
    return signing.verify_file(tmp_path / "bundle.json", PUB)


def _both(tmp_path: Path, envelope: bytes) -> tuple[str, str]:
    """The reason of the full verifier and of the lean one (`sei status`), both refusing."""
    verdict = _verdict(tmp_path, envelope)
    assert not verdict.ok
    with pytest.raises(dsse.EnvelopeError) as lean:
        dsse.verify_envelope(DATA, envelope, "bundle.json", PUB)
    return verdict.reason, str(lean.value)


def test_a_valid_envelope_verifies_both_ways(tmp_path: Path) -> None:
    envelope = _sign_statement(_statement())
    assert _verdict(tmp_path, envelope).ok
    assert dsse.verify_envelope(DATA, envelope, "bundle.json", PUB) == signing.keyid_for(PUB)


def test_statement_of_another_type_is_refused(tmp_path: Path) -> None:
    full, lean = _both(tmp_path, _sign_statement(_statement(_type="https://example/Other")))
    assert "not an in-toto Statement v1" in full and "not an in-toto Statement v1" in lean


def test_statement_of_another_predicate_type_is_refused(tmp_path: Path) -> None:
    full, lean = _both(tmp_path, _sign_statement(_statement(predicateType="https://x/p")))
    assert "predicateType" in full and "predicateType" in lean


def test_statement_with_two_subjects_is_refused(tmp_path: Path) -> None:
    statement = _statement()
    statement["subject"] = statement["subject"] * 2
    full, lean = _both(tmp_path, _sign_statement(statement))
    assert "exactly one subject" in full and "exactly one subject" in lean


def test_statement_naming_another_file_is_refused(tmp_path: Path) -> None:
    statement = json.loads(signing.statement_for(DATA, "index.json"))
    full, _ = _both(tmp_path, _sign_statement(statement))
    assert "not 'bundle.json'" in full


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    good = _sign_statement(_statement())
    doubled = good.replace(b'"payloadType":', b'"payloadType":"text/plain","payloadType":', 1)
    assert json.loads(doubled)["payloadType"] == dsse.PAYLOAD_TYPE  # last wins in plain json
    full, lean = _both(tmp_path, doubled)
    assert "appears twice" in full and "appears twice" in lean


def test_duplicate_keys_in_the_statement_are_refused(tmp_path: Path) -> None:
    payload = signing.statement_for(DATA, "bundle.json")
    doubled = payload.replace(b'{"_type":', b'{"subject":[],"_type":', 1)
    der = KEY.sign(dsse.pae(dsse.PAYLOAD_TYPE, doubled), signing._ECDSA_SHA256)
    r, s = utils.decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    envelope = json.dumps(
        {
            "payload": base64.b64encode(doubled).decode(),
            "payloadType": dsse.PAYLOAD_TYPE,
            "signatures": [
                {"keyid": signing.keyid_for(PUB), "sig": base64.b64encode(raw).decode()}
            ],
        }
    ).encode()
    full, lean = _both(tmp_path, envelope)
    assert "appears twice" in full and "appears twice" in lean


def test_byte_order_mark_is_refused(tmp_path: Path) -> None:
    full, lean = _both(tmp_path, dsse.BYTE_ORDER_MARK + _sign_statement(_statement()))
    assert "byte-order mark" in full and "byte-order mark" in lean


def test_non_canonical_base64_signature_is_refused(tmp_path: Path) -> None:
    envelope = json.loads(_sign_statement(_statement()))
    sig = envelope["signatures"][0]["sig"]
    assert sig.endswith("==")  # 64 bytes: the last character before the padding has 4 spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3])
    variant = sig[:-3] + alphabet[last | 1] + "=="
    assert variant != sig and base64.b64decode(variant) == base64.b64decode(sig)
    envelope["signatures"][0]["sig"] = variant
    full, lean = _both(tmp_path, json.dumps(envelope).encode())
    assert "not canonical base64" in full and "not canonical base64" in lean


def test_non_canonical_base64_payload_is_refused(tmp_path: Path) -> None:
    envelope = json.loads(_sign_statement(_statement()))
    envelope["payload"] = envelope["payload"][:10] + "\n" + envelope["payload"][10:]
    full, lean = _both(tmp_path, json.dumps(envelope).encode())
    assert "base64" in full and "base64" in lean


def test_a_signed_file_that_cannot_be_read_is_a_verdict(tmp_path: Path) -> None:
    (tmp_path / "bundle.json").mkdir()  # a folder where the file should be: reading fails
    (tmp_path / "bundle.json.sig").write_bytes(_sign_statement(_statement()))
    verdict = signing.verify_file(tmp_path / "bundle.json", PUB)
    assert not verdict.ok and verdict.reason.startswith("cannot read signed file")
    sig_only = tmp_path / "other.json"
    sig_only.write_bytes(DATA)
    verdict = signing.verify_file(sig_only, PUB, sig=tmp_path / "missing.sig")
    assert not verdict.ok and verdict.reason.startswith("cannot read signature")


def test_deep_envelope_is_a_verdict(tmp_path: Path) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    full, lean = _both(tmp_path, deep)
    assert "deeper" in full and "deeper" in lean


def test_p256_verifier_agrees_with_cryptography() -> None:
    rng = random.Random(31)
    for _ in range(12):
        key = ec.generate_private_key(ec.SECP256R1())
        point = bytes.fromhex(signing.public_key_hex(key))
        message = os.urandom(rng.randrange(0, 200))
        der = key.sign(message, signing._ECDSA_SHA256)
        r, s = utils.decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert dsse.p256_verify(point, raw, message)
        flipped = bytearray(raw)
        flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not dsse.p256_verify(point, bytes(flipped), message)
        assert not dsse.p256_verify(point, raw, message + b".")
        high_s = r.to_bytes(32, "big") + (dsse._N - s).to_bytes(32, "big")  # the other valid s
        assert dsse.p256_verify(point, high_s, message)
    assert not dsse.p256_verify(point, bytes(64), message)  # r = s = 0
    bad_point = point[:-1] + bytes([point[-1] ^ 1])  # not on the curve
    assert not dsse.p256_verify(bad_point, raw, message)


# --------------------------------------------------------------------------- constraints


@pytest.mark.parametrize(
    "text", ["lt0.03", "< 1_0", "‹ ０.03", "< ０.03", "<\u00a00.03", "< 0.03 x", "<", "0.03"]
)
def test_constraint_grammar_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_constraint(text)


@pytest.mark.parametrize(
    ("text", "operator", "threshold"),
    [
        ("< 0.03", "lt", 0.03),
        ("<0.03", "lt", 0.03),
        ("lt 0.03", "lt", 0.03),
        ("gte .5", "gte", 0.5),
    ],
)
def test_constraint_grammar_accepts(text: str, operator: str, threshold: float) -> None:
    parsed = parse_constraint(text)
    assert (parsed.operator, parsed.threshold) == (operator, threshold)
