"""DSSE envelopes read strictly, and ECDSA P-256 verified without ``cryptography``.

The lean readers (`sei status`) check one signature: importing ``cryptography`` costs more
than the whole command, so the verification is done here with Python integers (a verifier
handles only public values: no secret to leak through timing). The full verifier
(:mod:`sei_assets.core.signing`) parses envelopes with :func:`strict_json` too, so both hold
the same format: UTF-8 without a byte-order mark, every key once, finite numbers, bounded depth.
Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from sei_assets.core.jsonread import nesting_beyond, unique_object

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://venturalitica.ai/attestation/v1"
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
#: An envelope or a statement is shallow; deeper nesting is refused before parsing.
MAX_DEPTH = 16
#: An envelope holds a statement of one subject and a signature: far less than this.
MAX_ENVELOPE = 1 << 20


class EnvelopeError(ValueError):
    """An envelope or statement this engine does not accept; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise EnvelopeError(f"{name} is not JSON")


def strict_json(raw: bytes, what: str) -> Any:
    """``raw`` parsed as strict JSON: UTF-8, no byte-order mark, unique keys, no NaN, at most
    :data:`MAX_DEPTH` levels; EnvelopeError saying what is wrong with the ``what``."""
    if raw.startswith(BYTE_ORDER_MARK):
        raise EnvelopeError(f"{what} starts with a byte-order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"{what} is not UTF-8 (byte {exc.start})") from None
    if nesting_beyond(text, MAX_DEPTH):
        raise EnvelopeError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=unique_object, parse_constant=_refuse_constant)
    except EnvelopeError as exc:
        raise EnvelopeError(f"{what} is not valid JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:
        raise EnvelopeError(f"{what} is not valid JSON ({exc})") from None


def canonical_b64(text: object, what: str) -> bytes:
    """Strict, canonical base64 (the one encoding of its bytes), or EnvelopeError."""
    if not isinstance(text, str):
        raise EnvelopeError(f"envelope {what} is not a string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"envelope {what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise EnvelopeError(f"envelope {what} is not canonical base64")
    return raw


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes that are actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def check_statement(payload: bytes, name: str, digest_hex: str) -> None:
    """EnvelopeError unless ``payload`` is an in-toto Statement v1 of this engine's predicate
    whose one subject is ``name`` with sha256 ``digest_hex``."""
    try:
        statement = strict_json(payload, "payload")
    except EnvelopeError as exc:
        raise EnvelopeError(f"payload is not a JSON statement ({exc})") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise EnvelopeError("payload is not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise EnvelopeError(f"predicateType is {statement.get('predicateType')!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise EnvelopeError("statement must have exactly one subject")
    subject = subjects[0]
    if subject.get("name") != name:
        raise EnvelopeError(f"statement names {subject.get('name')!r}, not {name!r}")
    digest = subject.get("digest")
    if (digest.get("sha256") if isinstance(digest, dict) else None) != digest_hex:
        raise EnvelopeError("sha256 of the file does not match the signed statement (file altered)")


def open_envelope(envelope: bytes) -> tuple[bytes, list[dict[str, Any]]]:
    """The payload and signatures of a DSSE envelope read strictly (its type ours, the payload
    canonical base64, at least one signature); EnvelopeError saying what is wrong."""
    env = strict_json(envelope, "envelope")
    if not isinstance(env, dict):
        raise EnvelopeError("envelope is not a JSON object")
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise EnvelopeError(f"payloadType is {env.get('payloadType')!r}, expected {PAYLOAD_TYPE!r}")
    payload = canonical_b64(env.get("payload"), "payload")
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs or not all(isinstance(s, dict) for s in sigs):
        raise EnvelopeError("envelope has no signatures")
    return payload, sigs


def verify_envelope(data: bytes, envelope: bytes, name: str, pubkey_hex: str) -> str:
    """The keyid when ``envelope`` validly signs ``data`` as ``name`` under the hex P-256 key
    ``pubkey_hex``; EnvelopeError saying why not. The checks of the full verifier, in order."""
    payload, sigs = open_envelope(envelope)
    check_statement(payload, name, hashlib.sha256(data).hexdigest())
    try:
        point = bytes.fromhex(pubkey_hex.strip())
    except ValueError:
        raise EnvelopeError("the public key is not hex") from None
    keyid = hashlib.sha256(point).hexdigest()
    mine = [s for s in sigs if s.get("keyid") == keyid]
    if not mine:
        raise EnvelopeError(
            f"signed by keyid {sigs[0].get('keyid')}, not by this public key ({keyid})"
        )
    message = pae(PAYLOAD_TYPE, payload)
    for entry in mine:
        raw = canonical_b64(entry.get("sig"), "sig")
        if len(raw) != 64:
            raise EnvelopeError(f"signature is {len(raw)} bytes, expected 64 (raw r||s)")
        if p256_verify(point, raw, message):
            return keyid
    raise EnvelopeError("ECDSA signature does not verify against the public key")


# --------------------------------------------------------------------------- P-256 (FIPS 186-4)

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

#: A point in Jacobian coordinates (X, Y, Z) standing for (X/Z², Y/Z³); Z = 0 is infinity.
_Jacobian = tuple[int, int, int]
_INFINITY: _Jacobian = (1, 1, 0)


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x - 3 * x + _B)) % _P == 0


def _double(pt: _Jacobian) -> _Jacobian:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INFINITY
    p = _P
    zz = z * z % p
    yy = y * y % p
    m = 3 * (x - zz) * (x + zz) % p  # a = -3
    s = 4 * x * yy % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    z3 = 2 * y * z % p
    return x3, y3, z3


def _add(a: _Jacobian, b: _Jacobian) -> _Jacobian:
    x1, y1, z1 = a
    x2, y2, z2 = b
    if z1 == 0:
        return b
    if z2 == 0:
        return a
    p = _P
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if h == 0:
        return _double(a) if r == 0 else _INFINITY
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = h * z1 * z2 % p
    return x3, y3, z3


def p256_verify(point: bytes, signature: bytes, message: bytes) -> bool:
    """Whether the 64-byte raw ``r||s`` is a valid ECDSA P-256/SHA-256 signature of
    ``message`` under the 65-byte uncompressed public ``point``."""
    if len(point) != 65 or point[0] != 4 or len(signature) != 64:
        return False
    qx, qy = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    if not _on_curve(qx, qy):
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _N and 0 < s < _N):
        return False
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, -1, _N)
    u1, u2 = e * w % _N, r * w % _N
    g: _Jacobian = (_GX, _GY, 1)
    q: _Jacobian = (qx, qy, 1)
    both = _add(g, q)
    acc = _INFINITY
    for bit in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):  # Shamir's trick
        acc = _double(acc)
        pick = ((u1 >> bit) & 1, (u2 >> bit) & 1)
        if pick == (1, 1):
            acc = _add(acc, both)
        elif pick == (1, 0):
            acc = _add(acc, g)
        elif pick == (0, 1):
            acc = _add(acc, q)
    x, _, z = acc
    if z == 0:
        return False
    zinv = pow(z, -1, _P)
    return (x * zinv * zinv % _P) % _N == r
