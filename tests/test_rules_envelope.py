"""The envelope checks of `core/dsse.py` pinned (issue 32): strict JSON, canonical base64, the
DSSE pre-authentication encoding, the in-toto statement and the envelope's shape, each refusal
with the reason it gives. The formats are written here from their specifications (DSSE v1,
in-toto Statement v1, the reference's predicate), not read from the module."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sei_assets.core import dsse

pytestmark = pytest.mark.fast

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://venturalitica.ai/attestation/v1"
KEY = ec.derive_private_key(0x5E1A55E7, ec.SECP256R1())
POINT = KEY.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
PUB = POINT.hex()
KEYID = hashlib.sha256(POINT).hexdigest()
DATA = b'{"gate": "green"}\n'


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _statement(name: str = "bundle.json", data: bytes = DATA, **changes: Any) -> bytes:
    doc = {
        "_type": STATEMENT_TYPE,
        "predicateType": PREDICATE_TYPE,
        "subject": [{"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}],
        "predicate": {},
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def _sig(payload: bytes, key: ec.EllipticCurvePrivateKey = KEY) -> str:
    message = b"DSSEv1 %d %s %d %s" % (
        len(PAYLOAD_TYPE),
        PAYLOAD_TYPE.encode(),
        len(payload),
        payload,
    )
    r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _envelope(statement: bytes | None = None, sigs: Any = None, **changes: Any) -> bytes:
    statement = _statement() if statement is None else statement
    env = {
        "payloadType": PAYLOAD_TYPE,
        "payload": _b64(statement),
        "signatures": [{"keyid": KEYID, "sig": _sig(statement)}] if sigs is None else sigs,
    }
    env.update(changes)
    return json.dumps(env).encode()


def _refused(call: Any, *args: Any) -> str:
    with pytest.raises(dsse.EnvelopeError) as exc:
        call(*args)
    return str(exc.value)


# --------------------------------------------------------------------------- strict JSON


def test_strict_json_reads_plain_json() -> None:
    assert dsse.strict_json(b'{"a": [1, "x", {"b": null}]}', "doc") == {"a": [1, "x", {"b": None}]}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'\xef\xbb\xbf{"a": 1}', "doc starts with a byte-order mark"),
        (b'{"a": "\xff"}', "doc is not UTF-8 (byte 7)"),
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b'{"x": {"a": 1, "a": 1}}', "appears twice"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": Infinity}', "Infinity is not JSON"),
        (b'{"a": -Infinity}', "is not JSON"),
        (b'{"a": 1', "doc is not valid JSON"),
        (b"", "doc is not valid JSON"),
    ],
)
def test_strict_json_refuses(raw: bytes, says: str) -> None:
    message = _refused(dsse.strict_json, raw, "doc")
    assert says in message
    assert message.startswith("doc ")


def _nested(levels: int, inner: bytes = b"1") -> bytes:
    out = inner
    for k in range(levels):
        out = b"[" + out + b"]" if k % 2 else b'{"k": ' + out + b"}"
    return out


def test_sixteen_levels_are_read_and_seventeen_are_not() -> None:
    assert dsse.strict_json(_nested(16), "doc") is not None
    assert "doc nests deeper than 16 levels" in _refused(dsse.strict_json, _nested(17), "doc")
    assert "nests deeper" in _refused(dsse.strict_json, b"[" * 17 + b"]" * 17, "doc")
    assert "nests deeper" in _refused(dsse.strict_json, b"{" * 17, "doc")


def test_depth_counts_open_brackets_only_outside_strings() -> None:
    # brackets in strings, escaped quotes and backslashes do not nest
    assert dsse.strict_json(json.dumps({"s": "[" * 40 + "{" * 40}).encode(), "doc")
    assert dsse.strict_json(json.dumps({"s": '\\"' + "[" * 40}).encode(), "doc")
    assert dsse.strict_json(json.dumps({"s": "\\" + "[" * 40, "t": "]"}).encode(), "doc")
    # a closing bracket leaves one level, no more
    after_empty = b"[[]," + b"[" * 16 + b"]" * 16 + b"]"
    assert "nests deeper" in _refused(dsse.strict_json, after_empty, "doc")
    # closed brackets are left: many shallow siblings are fine
    assert dsse.strict_json(b"[" + b",".join([_nested(15)] * 3) + b"]", "doc")
    # closing brackets in a string close nothing: the deep tail after it counts
    deep = b'["]]]]",' + b"[" * 16 + b"]" * 16 + b"]"
    assert "nests deeper" in _refused(dsse.strict_json, deep, "doc")
    escaped = b'["\\\\"' + b"," + b"[" * 16 + b"]" * 16 + b"]"  # the string is one backslash
    assert "nests deeper" in _refused(dsse.strict_json, escaped, "doc")


# --------------------------------------------------------------------------- base64, PAE


def test_canonical_base64() -> None:
    assert dsse.canonical_b64("aGk=", "payload") == b"hi"
    assert dsse.canonical_b64("", "payload") == b""
    assert "envelope payload is not a string" in _refused(dsse.canonical_b64, None, "payload")
    assert "envelope sig is not a string" in _refused(dsse.canonical_b64, b"aGk=", "sig")
    assert "envelope payload is not valid base64" in _refused(
        dsse.canonical_b64, "aG k=", "payload"
    )
    assert "is not valid base64" in _refused(dsse.canonical_b64, "aGk", "payload")
    # the same bytes under another spelling: non-zero padding bits
    assert "envelope sig is not canonical base64" in _refused(dsse.canonical_b64, "aGl=", "sig")


def test_pae_is_dsse_v1() -> None:
    assert dsse.pae("t", b"ab") == b"DSSEv1 1 t 2 ab"
    assert dsse.pae("\u00e9", b"") == b"DSSEv1 2 \xc3\xa9 0 "  # lengths in bytes
    assert dsse.pae(PAYLOAD_TYPE, b"{}") == b"DSSEv1 28 application/vnd.in-toto+json 2 {}"


# --------------------------------------------------------------------------- statement


def test_a_statement_of_the_file_passes() -> None:
    dsse.check_statement(_statement(), "bundle.json", hashlib.sha256(DATA).hexdigest())


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"[1", "payload is not a JSON statement (payload is not valid JSON"),
        (b'{"_type": 1, "_type": 2}', "payload is not a JSON statement"),
        (b"[]", "payload is not an in-toto Statement v1"),
        (_statement(_type="https://in-toto.io/Statement/v0.1"), "not an in-toto Statement v1"),
        (_statement(predicateType="https://slsa.dev/provenance/v1"), "predicateType is 'https"),
        (_statement(subject={"name": "bundle.json"}), "exactly one subject"),
        (_statement(subject=[]), "exactly one subject"),
        (_statement(subject=["bundle.json"]), "exactly one subject"),
        (
            _statement(subject=[{"name": "bundle.json"}, {"name": "bundle.json"}]),
            "exactly one subject",
        ),
        (_statement(name="other.json"), "statement names 'other.json', not 'bundle.json'"),
        (_statement(data=b"altered"), "does not match the signed statement (file altered)"),
        (_statement(subject=[{"name": "bundle.json"}]), "file altered"),
        (_statement(subject=[{"name": "bundle.json", "digest": "abc"}]), "file altered"),
    ],
)
def test_statement_refusals(payload: bytes, says: str) -> None:
    message = _refused(
        dsse.check_statement, payload, "bundle.json", hashlib.sha256(DATA).hexdigest()
    )
    assert says in message


# --------------------------------------------------------------------------- envelope


def test_open_envelope_gives_payload_and_signatures() -> None:
    sigs = [{"keyid": "k", "sig": "AA=="}, {"keyid": "j", "sig": "AQ=="}]
    payload, found = dsse.open_envelope(_envelope(b"{}", sigs))
    assert payload == b"{}"
    assert found == sigs


@pytest.mark.parametrize(
    ("envelope", "says"),
    [
        (b"[]", "envelope is not a JSON object"),
        (b'"x"', "envelope is not a JSON object"),
        (b"\xef\xbb\xbf{}", "envelope starts with a byte-order mark"),
        (_envelope(payloadType="application/json"), "payloadType is 'application/json', expected"),
        (_envelope(payloadType=None), "payloadType is None"),
        (_envelope(payload="e30"), "envelope payload is not valid base64"),
        (_envelope(payload=7), "envelope payload is not a string"),
        (_envelope(payload="e31="), "envelope payload is not canonical base64"),
        (_envelope(signatures=[]), "envelope has no signatures"),
        (_envelope(signatures={"keyid": "k"}), "envelope has no signatures"),
        (_envelope(signatures=None), "envelope has no signatures"),
        (_envelope(signatures=[{"keyid": "k"}, "sig"]), "envelope has no signatures"),
    ],
)
def test_envelope_refusals(envelope: bytes, says: str) -> None:
    assert says in _refused(dsse.open_envelope, envelope)


def test_a_missing_payload_type_is_refused() -> None:
    env = json.loads(_envelope())
    del env["payloadType"]
    assert "payloadType is None" in _refused(dsse.open_envelope, json.dumps(env).encode())


# --------------------------------------------------------------------------- verify


def test_a_valid_envelope_verifies_to_its_keyid() -> None:
    assert dsse.verify_envelope(DATA, _envelope(), "bundle.json", PUB) == KEYID
    assert dsse.verify_envelope(DATA, _envelope(), "bundle.json", f" {PUB}\n") == KEYID


def test_one_good_signature_among_several_of_the_key_suffices() -> None:
    payload = _statement()
    other = ec.derive_private_key(7, ec.SECP256R1())
    sigs = [
        {"keyid": "someone-else", "sig": "!"},
        {"keyid": KEYID, "sig": _sig(payload, other)},
        {"keyid": KEYID, "sig": _sig(payload)},
    ]
    assert dsse.verify_envelope(DATA, _envelope(payload, sigs), "bundle.json", PUB) == KEYID


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("altered", "file altered"),
        ("other_name", "statement names 'bundle.json', not 'model.json'"),
        ("not_hex", "the public key is not hex"),
        ("other_key", "signed by keyid someone-else, not by this public key"),
        ("short_sig", "signature is 63 bytes, expected 64 (raw r||s)"),
        ("bad_sig", "ECDSA signature does not verify against the public key"),
        ("sig_b64", "envelope sig is not valid base64"),
    ],
)
def test_verify_refusals(case: str, says: str) -> None:
    data, name, pub, envelope = DATA, "bundle.json", PUB, _envelope()
    payload = _statement()
    if case == "altered":
        data = b"{}"
    elif case == "other_name":
        name = "model.json"
    elif case == "not_hex":
        pub = "zz"
    elif case == "other_key":
        envelope = _envelope(payload, [{"keyid": "someone-else", "sig": _sig(payload)}])
    elif case == "short_sig":
        envelope = _envelope(payload, [{"keyid": KEYID, "sig": _b64(bytes(63))}])
    elif case == "bad_sig":
        other = ec.derive_private_key(7, ec.SECP256R1())
        envelope = _envelope(payload, [{"keyid": KEYID, "sig": _sig(payload, other)}])
    elif case == "sig_b64":
        envelope = _envelope(payload, [{"keyid": KEYID, "sig": "**"}])
    message = _refused(dsse.verify_envelope, data, envelope, name, pub)
    assert says in message
    assert KEYID in message if case == "other_key" else True


def test_the_signature_covers_the_payload_type() -> None:
    payload = _statement()
    message = b"DSSEv1 %d %s %d %s" % (16, b"application/json", len(payload), payload)
    r, s = utils.decode_dss_signature(KEY.sign(message, ec.ECDSA(hashes.SHA256())))
    sig = _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    envelope = _envelope(payload, [{"keyid": KEYID, "sig": sig}])
    assert "does not verify" in _refused(dsse.verify_envelope, DATA, envelope, "bundle.json", PUB)


def test_nesting_beyond_gives_the_depth_and_where_it_was_reached() -> None:
    """The shared nesting rule: brackets inside strings do not count; the answer is the depth
    and the offset of the first bracket too deep, from which the bounded loader names the line."""
    from sei_assets.core.errors import ManifestError
    from sei_assets.core.jsonread import nesting_beyond
    from sei_assets.core.safeload import parse_json

    text = '{"a": "[[[[", "b":\n [[[1]]]}'
    assert nesting_beyond(text, 4) is None
    assert nesting_beyond(text, 3) == (4, text.index("[[[1") + 2)
    with pytest.raises(ManifestError) as info:
        parse_json("doc.json", text, max_depth=3)
    assert info.value.line == 2 and "nesting deeper than 3 levels" in str(info.value)
