"""Signed evidence: detached DSSE envelopes over in-toto statements, ECDSA P-256.

Byte-compatible with the reference engine (``sei``, earlier ``venth``/``froga``). For an
evidence file ``F`` the envelope ``F.sig`` is compact JSON with sorted keys::

    {"payload":<b64 statement>,"payloadType":"application/vnd.in-toto+json",
     "signatures":[{"keyid":<hex sha256 of the public point>,"sig":<b64 r||s>}]}

The signature is ECDSA P-256/SHA-256 over the DSSE pre-authentication encoding
``DSSEv1 <len(type)> <type> <len(payload)> <payload>`` (not over the raw payload), stored as
the 64-byte raw ``r||s``. The statement's subject name is the file's path relative to the
evidence directory (``bundle.json``, ``conformance/iso_23894_2023.json``).

Our own evidence sets also carry ``index.json`` (signed like any file), naming every file of
the set with its sha256 (see ``evidence_set``): :func:`verify_evidence` then fails on a file
that is missing or differs from the index, and names files the index does not cover. Files and
folders whose names start with a dot are never evidence.

Only the standard library and ``cryptography`` are imported here, so the CLI starts fast.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import functools
import gc
import hashlib
import json
import os
import pickle
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sei_assets.core import dsse
from sei_assets.core.errors import SeiError, VerificationError
from sei_assets.core.fsutil import atomic_write, sha256_bytes
from sei_assets.core.layout import ASSESSMENT_RESULTS, COMMIT_DIR, EVIDENCE_DIRS

if TYPE_CHECKING:  # the type of an open os.scandir listing; typeshed names it privately
    from os import _ScandirIterator as ScandirIterator

KEY_ENV = "SEI_SIGNING_KEY"
PAYLOAD_TYPE = dsse.PAYLOAD_TYPE
STATEMENT_TYPE = dsse.STATEMENT_TYPE
PREDICATE_TYPE = dsse.PREDICATE_TYPE
STATEMENT_VERSION = 1
PUBKEY_FILE = "PUBKEY.txt"
SIG_SUFFIX = ".sig"

#: Evidence files (relative to the evidence directory) that must carry a ``.sig``.
SIGNED_PATTERNS = (
    "bundle.json",
    ASSESSMENT_RESULTS,
    "index.json",
    "reconstruct.json",
    "conformance/*.json",
)
#: The signed evidence index (see evidence_set): every file of the set with its sha256.
INDEX_FILE = "index.json"
#: The run's evidence bundle (it names the system).
BUNDLE_FILE = "bundle.json"
#: Decision records signed by people, not by the machine (see decision_record, counting).
DECISIONS_DIR = "lifecycle"

_PUBKEY_TEXT = re.compile(rb"[0-9a-f]{130}(\r?\n)?")
_POINT_LEN = 65
_SCALAR_LEN = 32
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  # built once: it costs as much as hashing a bundle


def default_key_path() -> Path:
    """The signing key path: ``$SEI_SIGNING_KEY``, else ``$XDG_CONFIG_HOME/sei-assets/...``."""
    override = os.environ.get(KEY_ENV)
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "sei-assets" / "signing-key.pem"


DEFAULT_KEY_PATH = default_key_path()


# --------------------------------------------------------------------------- keys


ALLOW_IN_REPO_ENV = "SEI_ALLOW_KEY_IN_REPO"


def work_tree_of(path: Path) -> Path | None:
    """The git work tree that ``path`` would lie in, unless git ignores it there (an ignored
    path is not one `git add -A` from being published), or None."""
    import subprocess

    for folder in Path(os.path.abspath(path)).parents:
        if (folder / ".git").exists():
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", "--", os.path.abspath(path)],
                cwd=folder,
                capture_output=True,
            )
            return None if ignored.returncode == 0 else folder
    return None


def load_or_create_key(path: Path | None = None) -> ec.EllipticCurvePrivateKey:
    """Load the P-256 signing key at ``path`` (default: :func:`default_key_path`), creating it.

    Refused inside a git work tree (unless ``$SEI_ALLOW_KEY_IN_REPO`` is set, as
    ``--allow-key-in-repo`` does) and when the file is readable by group or others. Without
    ``path``, ``$SEI_SIGNER`` may name a token or KMS signer instead (see signer)."""
    if path is None and os.environ.get("SEI_SIGNER", "file") not in ("", "file"):
        from sei_assets.core.signer import configured

        signer = configured()
        if signer is not None:
            return signer
    path = Path(path) if path is not None else default_key_path()
    exists = path.exists() or path.is_symlink()
    tree = work_tree_of(path)
    if tree is not None and os.environ.get(ALLOW_IN_REPO_ENV, "") in ("", "0"):
        raise SeiError(
            f"refusing to {'use' if exists else 'create'} the signing key {path}: it lies in the "
            f"git work tree {tree}, one `git add -A` from being published; keep it outside "
            f"(point {KEY_ENV} elsewhere), or pass --allow-key-in-repo "
            f"(or set {ALLOW_IN_REPO_ENV}=1)"
        )
    if not exists:
        _create_key(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SeiError(f"cannot read signing key {path}: {exc.strerror or exc}") from None
    if mode & 0o077:
        raise SeiError(
            f"signing key {path} is readable or writable by group or others "
            f"(mode {oct(mode & 0o777)}): restrict it with `chmod 600 {path}`"
        )
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Write a fresh PKCS8 PEM key with mode 0600; never replace a key another process wrote."""
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        _make_private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
        atomic_write(tmp, pem, mode=0o600)
        try:
            os.link(tmp, path)  # exclusive: fails if a concurrent run created the key first
        except FileExistsError:
            pass
        except OSError:
            os.replace(tmp, path)  # filesystems without hard links
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise SeiError(f"cannot create signing key {path}: {exc.strerror or exc}") from None


def _make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) with mode 0700."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        candidate.mkdir(mode=0o700, exist_ok=True)
        os.chmod(candidate, 0o700)


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read a PEM P-256 private key, or raise SeiError naming the file."""
    from cryptography.hazmat.primitives import serialization

    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise SeiError(f"cannot read signing key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SeiError(  # the reason only: never a byte of the file
            f"signing key {path} is not an unencrypted PEM private key ({type(exc).__name__}); "
            f"move it away to create a new one, or point {KEY_ENV} at another key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SeiError(f"signing key {path} is not an ECDSA P-256 key")
    return key


def _point_bytes(public: ec.EllipticCurvePublicKey) -> bytes:
    """The 65-byte uncompressed point ``04 || x || y``."""
    numbers = public.public_numbers()
    return b"\x04" + numbers.x.to_bytes(_SCALAR_LEN, "big") + numbers.y.to_bytes(_SCALAR_LEN, "big")


def public_key_hex(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    """Lower-case hex of the uncompressed public point (what ``PUBKEY.txt`` holds)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return _point_bytes(public).hex()


def keyid_for(pubkey_hex: str) -> str:
    """The keyid: hex sha256 of the 65-byte uncompressed public point."""
    return sha256_bytes(bytes.fromhex(pubkey_hex.strip()))


@functools.lru_cache(maxsize=64)
def _public_key(pubkey_hex: str) -> tuple[ec.EllipticCurvePublicKey, str]:
    """Parse a hex uncompressed P-256 point; return the key and its keyid (ValueError if bad)."""
    try:
        point = bytes.fromhex(pubkey_hex)
    except ValueError as exc:
        raise ValueError("public key is not hex") from exc
    if len(point) != _POINT_LEN or point[0] != 4:
        raise ValueError("public key is not a 65-byte uncompressed P-256 point")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise ValueError("public key is not a point on P-256") from exc
    return public, sha256_bytes(point)


def write_pubkey(evidence_dir: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    """Write ``<evidence_dir>/PUBKEY.txt`` (hex point and a newline) atomically; return it."""
    target = Path(evidence_dir) / PUBKEY_FILE
    text = (public_key_hex(key) + "\n").encode("ascii")
    try:
        if target.read_bytes() == text:  # the evidence set already holds it (see write_signed)
            return target
    except OSError:
        pass
    atomic_write(target, text)
    return target


# --------------------------------------------------------------------------- signing


def _canonical_json(obj: object) -> bytes:
    """Compact JSON with sorted keys, as the reference engine writes it."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes that are actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement_for(data: bytes, name: str, tool: str = "sei") -> bytes:
    """The in-toto Statement v1 (compact, sorted keys) whose subject is ``name`` = ``data``."""
    return _canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "predicate": {"statement_version": STATEMENT_VERSION, "tool": tool},
            "predicateType": PREDICATE_TYPE,
            "subject": [{"digest": {"sha256": sha256_bytes(data)}, "name": name}],
        }
    )


def sign_bytes(data: bytes, name: str, key: ec.EllipticCurvePrivateKey, tool: str = "sei") -> bytes:
    """The DSSE envelope bytes signing ``data`` under subject ``name``."""
    payload = statement_for(data, name, tool)
    der = key.sign(pae(PAYLOAD_TYPE, payload), _ECDSA_SHA256)
    r, s = utils.decode_dss_signature(der)
    raw = r.to_bytes(_SCALAR_LEN, "big") + s.to_bytes(_SCALAR_LEN, "big")
    return _canonical_json(
        {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [
                {
                    "keyid": keyid_for(public_key_hex(key)),
                    "sig": base64.b64encode(raw).decode("ascii"),
                }
            ],
        }
    )


def subject_name(path: Path) -> str:
    """Subject name for ``path``: relative to its evidence directory, else the file name."""
    parts = Path(path).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in EVIDENCE_DIRS:
            return "/".join(parts[i + 1 :])
    return parts[-1]


def sig_path(path: Path) -> Path:
    """The detached envelope path for ``path`` (``path`` + ``.sig``)."""
    path = Path(path)
    return path.with_name(path.name + SIG_SUFFIX)


def sign_file(
    path: Path, key: ec.EllipticCurvePrivateKey, tool: str = "sei", name: str | None = None
) -> Path:
    """Sign ``path``'s exact bytes into ``path.sig`` (atomically); return the ``.sig`` path."""
    path = Path(path)
    envelope = sign_bytes(path.read_bytes(), name or subject_name(path), key, tool)
    target = sig_path(path)
    atomic_write(target, envelope)
    return target


# --------------------------------------------------------------------------- verification
#
# The hot path works on strings (no Path objects), reads each file with one open, fstat and read,
# hashes each file once, parses the public key once per evidence directory and checks envelopes in
# the canonical form this engine and the reference write with two regular expressions instead of
# two JSON parses (any other form goes through the full JSON check, which gives the reason).


class _LazyPath:
    """A path attribute kept as given (text, from the scan) and made a Path on first read:
    verification works on strings and most callers never read the path."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> Path:
        if obj is None:
            return self  # type: ignore[return-value]  # the descriptor, read on the class
        value = getattr(obj, self.slot)
        if not isinstance(value, Path):
            value = Path(value)
            setattr(obj, self.slot, value)
        return value

    def __set__(self, obj: object, value: Path | str) -> None:
        setattr(obj, self.slot, value)


class _ByValue:
    """Compared by the tuple ``_fields()`` gives, like a dataclass; mutable, so not hashable."""

    __slots__ = ()

    def _fields(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _ByValue) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable


class FileVerdict(_ByValue):
    """The outcome of verifying one signed file.

    ``path`` is a :class:`~pathlib.Path`, made on first use (see :class:`_LazyPath`)."""

    __slots__ = ("_path", "ok", "reason", "keyid")
    #: The signed file (its place in the evidence directory).
    path = _LazyPath()

    def __init__(self, path: Path | str, ok: bool, reason: str, keyid: str | None = None) -> None:
        self._path = path
        self.ok = ok
        self.reason = reason
        self.keyid = keyid

    def _fields(self) -> tuple[Path, bool, str, str | None]:
        return self.path, self.ok, self.reason, self.keyid

    def __repr__(self) -> str:
        return (
            f"FileVerdict(path={self.path!r}, ok={self.ok!r}, reason={self.reason!r}, "
            f"keyid={self.keyid!r})"
        )

    def __reduce__(self) -> tuple[type[FileVerdict], tuple[str, bool, str, str | None]]:
        return FileVerdict, (os.fspath(self._path), self.ok, self.reason, self.keyid)


@dataclass(eq=False)
class EvidenceVerdict(_ByValue):
    """The outcome of verifying every signed file of an evidence directory.

    ``evidence_dir`` is a :class:`~pathlib.Path`, made on first use (like a file's path)."""

    _evidence_dir: Path | str
    pubkey_source: str
    pubkey_hex: str
    files: list[FileVerdict] = field(default_factory=list)
    ok: bool = False
    #: Files that are not part of the signed set, named (unsigned, or signed but not indexed).
    warnings: list[str] = field(default_factory=list)
    #: The signed evidence index, when the set has one and it verified.
    index: dict[str, Any] | None = None
    #: A committed write was interrupted; the verdict is about the set it commits.
    pending: bool = False
    #: The bytes of ``bundle.json`` as verified, when asked for (``keep_bundle``), and their
    #: sha256 (hex).
    bundle: bytes | None = field(default=None, repr=False, compare=False)
    bundle_sha256: str | None = field(default=None, repr=False, compare=False)
    #: The evidence set the verified bundle names (see :func:`_named_set`); None when it names
    #: none (the reference's bundles, and ours from before sets were named).
    set_id: str | None = field(default=None, repr=False, compare=False)

    #: The evidence directory verified.
    evidence_dir = _LazyPath()

    @property
    def evidence_folder(self) -> str:
        """:attr:`evidence_dir` as text, without making the Path."""
        return os.fspath(self._evidence_dir)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.evidence_dir,
            self.pubkey_source,
            self.pubkey_hex,
            self.files,
            self.ok,
            self.warnings,
            self.index,
            self.pending,
        )

    def __reduce__(self) -> tuple[Callable[..., EvidenceVerdict], tuple[Any, ...]]:
        """Pickled as its fields, paths as text (what a forked verifier sends back: about half
        the time to write and read of the dataclass with its paths)."""
        files = [(os.fspath(f._path), f.ok, f.reason, f.keyid) for f in self.files]
        return _verdict, (
            os.fspath(self._evidence_dir),
            self.pubkey_source,
            self.pubkey_hex,
            files,
            self.ok,
            self.warnings,
            self.index,
            self.pending,
            self.bundle,
            self.bundle_sha256,
            self.set_id,
        )

    @property
    def keyid(self) -> str | None:
        """The keyid of ``pubkey_hex``, or None when that is not a valid P-256 point."""
        try:
            return _public_key(self.pubkey_hex)[1]
        except ValueError:
            return None

    @property
    def failures(self) -> list[FileVerdict]:
        """The files that did not verify."""
        return [f for f in self.files if not f.ok]

    def raise_for_failure(self) -> None:
        """Raise VerificationError listing the failed files, if any."""
        if not self.ok:
            lines = [f"{f.path}: {f.reason}" for f in self.failures] or ["nothing verified"]
            raise VerificationError(
                f"evidence in {self.evidence_dir} does not verify:\n  " + "\n  ".join(lines)
            )


def _verdict(
    evidence_dir: str,
    source: str,
    key_hex: str,
    files: list[tuple[str, bool, str, str | None]],
    *rest: object,
) -> EvidenceVerdict:
    """The verdict :meth:`EvidenceVerdict.__reduce__` pickled."""
    ok, warnings, index, pending, bundle, digest, set_id = rest
    verdict = EvidenceVerdict(
        evidence_dir,
        source,
        key_hex,
        [FileVerdict(*f) for f in files],
        ok,  # type: ignore[arg-type]  # the fields __reduce__ pickled, in order
        warnings,  # type: ignore[arg-type]
        index,  # type: ignore[arg-type]
        pending,  # type: ignore[arg-type]
    )
    verdict.bundle, verdict.bundle_sha256 = bundle, digest  # type: ignore[assignment]
    verdict.set_id = set_id  # type: ignore[assignment]
    return verdict


class _Bad(Exception):
    """Internal: a verification failure with its reason."""


#: A parsed public key and its keyid, or why the key is unusable (a file verdict's reason).
_Key = tuple[ec.EllipticCurvePublicKey, str] | str
VERIFIED = "signature verified"
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_SMALL = 4096  # an envelope or PUBKEY.txt is well under this: read without an fstat
_B64_TEXT = rb"[A-Za-z0-9+/]*={0,2}"
#: The envelope as this engine and the reference write it: compact, sorted keys, one signature.
_ENVELOPE = re.compile(
    rb'\{"payload":"('
    + _B64_TEXT
    + rb')","payloadType":"'
    + re.escape(PAYLOAD_TYPE.encode())
    + rb'","signatures":\[\{"keyid":"([0-9a-f]{64})","sig":"('
    + _B64_TEXT
    + rb')"\}\]\}'
)
#: The statement in that form; the subject name is printable ASCII without quote or backslash,
#: so the bytes are the name (JSON escapes nothing in it).
_STATEMENT = re.compile(
    rb'\{"_type":"'
    + re.escape(STATEMENT_TYPE.encode())
    + rb'","predicate":\{"statement_version":(?:0|[1-9][0-9]{0,8}),"tool":"[A-Za-z0-9_.-]{0,64}"\}'
    + rb',"predicateType":"'
    + re.escape(PREDICATE_TYPE.encode())
    + rb'","subject":\[\{"digest":\{"sha256":"([0-9a-f]{64})"\},"name":"([ !#-\[\]-~]*)"\}\]\}'
)
_PAE_PREFIX = pae(PAYLOAD_TYPE, b"")[: -len(b"0 ")]  # b"DSSEv1 28 application/vnd.in-toto+json "


def _read(path: str | Path, small: int = 0) -> bytes:
    """The bytes of the file at ``path``: one open, fstat and read (``open().read()`` adds a
    buffered reader and more system calls). ``small``: a regular file (from the scan) that is
    likely shorter than that many bytes, read without the fstat."""
    fd = os.open(path, _O_READ)
    try:
        if small:
            data = os.read(fd, small)
            if len(data) < small:  # a short read of a regular file is its end
                return data
        else:
            size = os.fstat(fd).st_size
            data = os.read(fd, size + 1)
            if len(data) <= size:
                return data
        chunks = [data]  # larger, it grew, or its size is not known (size 0: a pipe)
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _der(raw: bytes) -> bytes:
    """DER ``SEQUENCE { INTEGER r, INTEGER s }`` of a 64-byte raw ``r||s`` (what
    ``utils.encode_dss_signature`` gives, without converting to and from int)."""
    r = raw[:_SCALAR_LEN].lstrip(b"\0") or b"\0"
    s = raw[_SCALAR_LEN:].lstrip(b"\0") or b"\0"
    if r[0] & 0x80:
        r = b"\0" + r
    if s[0] & 0x80:
        s = b"\0" + s
    return b"\x30%c\x02%c%s\x02%c%s" % (len(r) + len(s) + 4, len(r), r, len(s), s)


def _key_for(pubkey_hex: str) -> _Key:
    """The parsed key and keyid of ``pubkey_hex`` (cached), or why it is unusable."""
    try:
        return _public_key(pubkey_hex)
    except ValueError as exc:
        return str(exc)


def _b64(text: object, what: str) -> bytes:
    """Strict, canonical base64 decode (rejects non-alphabet and re-encodable variants)."""
    try:
        return dsse.canonical_b64(text, what)
    except dsse.EnvelopeError as exc:
        raise _Bad(str(exc)) from None


def _canonical_b64(text: bytes) -> bytes | None:
    """``text`` decoded when it is canonical base64 (alphabet already checked), else None."""
    try:
        raw = binascii.a2b_base64(text)
    except binascii.Error:
        return None
    return raw if binascii.b2a_base64(raw, newline=False) == text else None


def _fast_check(envelope: bytes, name: str, key: _Key, digest_hex: str) -> str | None:
    """The keyid when ``envelope``, in the canonical form, validly signs a file whose sha256 is
    ``digest_hex`` as ``name``; None otherwise, and :func:`_check` decides and says why. What
    passes here passes :func:`_check` too: the form is valid JSON that parses to exactly the
    values matched, and the same checks run on them."""
    if isinstance(key, str):
        return None
    envelope_match = _ENVELOPE.fullmatch(envelope)
    if envelope_match is None:
        return None
    payload_text, keyid_text, sig_text = envelope_match.groups()
    public, keyid = key
    if keyid_text.decode("ascii") != keyid:
        return None
    payload = _canonical_b64(payload_text)
    raw = _canonical_b64(sig_text)
    if payload is None or raw is None or len(raw) != 2 * _SCALAR_LEN:
        return None
    statement = _STATEMENT.fullmatch(payload)
    if (
        statement is None
        or statement.group(1).decode("ascii") != digest_hex
        or statement.group(2).decode("ascii") != name
    ):
        return None
    try:
        public.verify(_der(raw), b"%s%d %s" % (_PAE_PREFIX, len(payload), payload), _ECDSA_SHA256)
    except InvalidSignature:
        return None
    return keyid


def _check(
    data: bytes,
    envelope: bytes,
    name: str,
    key: _Key,
    keyid_box: list[str],
    digest_hex: str | None = None,
) -> None:
    """Raise _Bad with a reason unless ``envelope`` validly signs ``data`` as ``name`` under
    ``key`` (see :func:`_key_for`): every check, in order, on any JSON form (strict JSON: see
    :func:`dsse.strict_json`)."""
    try:
        payload, sigs = dsse.open_envelope(envelope)
    except dsse.EnvelopeError as exc:
        raise _Bad(str(exc)) from exc
    keyid_box.extend(str(s.get("keyid")) for s in sigs[:1])
    try:
        dsse.check_statement(payload, name, digest_hex or sha256_bytes(data))
    except dsse.EnvelopeError as exc:
        raise _Bad(str(exc)) from exc

    if isinstance(key, str):
        raise _Bad(key)
    public, keyid = key
    mine = [s for s in sigs if s.get("keyid") == keyid]
    if not mine:
        raise _Bad(f"signed by keyid {keyid_box[0]}, not by this public key ({keyid})")
    keyid_box[:] = [keyid]
    message = pae(PAYLOAD_TYPE, payload)
    for entry in mine:
        raw = _b64(entry.get("sig"), "sig")
        if len(raw) != 2 * _SCALAR_LEN:
            raise _Bad(f"signature is {len(raw)} bytes, expected 64 (raw r||s)")
        try:
            public.verify(_der(raw), message, _ECDSA_SHA256)
            return
        except InvalidSignature:
            continue
    raise _Bad("ECDSA signature does not verify against the public key")


def _verify_paths(
    data_path: str,
    sig: str,
    name: str,
    key: _Key,
    digests: dict[str, str] | None = None,
    kept: dict[str, tuple[bytes, str]] | None = None,
    scanned: bool = False,
) -> tuple[bool, str, str | None]:
    """``(ok, reason, keyid)`` for the file at ``data_path`` and its envelope at ``sig``,
    each read once; their sha256 go into ``digests`` (by ``name`` and ``name.sig``), the
    file's bytes and sha256 into ``kept``. ``scanned``: both are regular files found by the scan."""
    try:
        data = _read(data_path)
    except OSError as exc:
        return False, f"cannot read signed file: {exc.strerror or exc}", None
    try:
        envelope = _read(sig, _SMALL if scanned else 0)
    except OSError as exc:
        return False, f"cannot read signature: {exc.strerror or exc}", None
    digest = hashlib.sha256(data).hexdigest()
    if kept is not None:
        kept[name] = data, digest
    if digests is not None:
        digests[name] = digest
        digests[name + SIG_SUFFIX] = hashlib.sha256(envelope).hexdigest()
    keyid = _fast_check(envelope, name, key, digest)
    if keyid is not None:
        return True, VERIFIED, keyid
    box: list[str] = []
    try:
        _check(data, envelope, name, key, box, digest)
    except _Bad as bad:
        return False, str(bad), box[0] if box else None
    return True, VERIFIED, box[0]


def verify_file(
    path: Path,
    pubkey_hex: str,
    name: str | None = None,
    sig: Path | None = None,
    digests: dict[str, str] | None = None,
) -> FileVerdict:
    """Verify ``path`` against its envelope (``path.sig`` unless ``sig``) and a hex public key;
    never raises for bad content. Each file is read once; its sha256 goes into ``digests``."""
    path = path if isinstance(path, Path) else Path(path)
    raw_path = os.fspath(path)
    sig_at = os.fspath(sig) if sig else raw_path + SIG_SUFFIX
    key = _key_for(pubkey_hex.strip().lower())
    ok, reason, keyid = _verify_paths(raw_path, sig_at, name or subject_name(path), key, digests)
    return FileVerdict(path, ok, reason, keyid)


def find_evidence_dir(repo: Path) -> Path | None:
    """The first of ``.sei``, ``.venth``, ``.froga`` under ``repo`` that is a directory."""
    base = os.fspath(repo)
    for candidate in EVIDENCE_DIRS:
        if os.path.isdir(os.path.join(base, candidate)):
            return Path(repo, candidate)
    return None


def _open_evidence_dir(repo: Path | str) -> tuple[str, str, ScandirIterator[str]] | None:
    """:func:`find_evidence_dir` as text, the name it found and the open listing of it, one
    system call less: the listing is opened directly (isdir only decides when that fails)."""
    base = os.fspath(repo) if isinstance(repo, Path) else str(Path(repo))
    for candidate in EVIDENCE_DIRS:
        folder = _under(base, candidate)
        try:
            entries = os.scandir(folder)
        except OSError:
            if os.path.isdir(folder):
                raise
            continue
        return folder, candidate, entries
    return None


def _under(folder: str, rel: str) -> str:
    """``str(Path(folder) / rel)`` for a name from the directory scan, without the Path."""
    if os.sep == "/" and folder and not folder.endswith("/"):
        return folder + "/" + rel
    return str(Path(folder) / rel)


def _read_repo_pubkey(
    evidence_dir: Path | str, where: str | Path | None = None
) -> tuple[str, str | None]:
    """The hex key from ``PUBKEY.txt`` (read at ``where`` if given) and, if malformed, why."""
    try:  # a file found by the scan is regular: read without an fstat
        raw = _read(where, _SMALL) if where else _read(_under(str(evidence_dir), PUBKEY_FILE))
    except FileNotFoundError:
        target = _under(str(evidence_dir), PUBKEY_FILE)
        raise SeiError(
            f"no public key to verify {evidence_dir}: {target} is missing, no key was pinned "
            "and none is known for this system; pass the signer's public key with "
            "--pubkey <hex or file holding it>"
        ) from None
    except OSError as exc:
        target = _under(str(evidence_dir), PUBKEY_FILE)
        raise SeiError(f"cannot read {target}: {exc.strerror or exc}") from exc
    text = raw.decode("ascii", "replace").strip()
    if not _PUBKEY_TEXT.fullmatch(raw):
        target = _under(str(evidence_dir), PUBKEY_FILE)
        return text, f"{target} is not a lower-case hex P-256 public key (altered?)"
    return text, None


def _scan(
    evidence_dir: str,
    entries: ScandirIterator[str] | None = None,
    links: list[str] | None = None,
) -> tuple[list[str], bool]:
    """Every regular file under ``evidence_dir`` (``entries``: its listing, already open) as a
    sorted relative POSIX path, and whether a committed write (``.commit/``) is there; dot files
    and folders (transactions, staging, temporary files, the lock) are not evidence. Symbolic
    links are not evidence either: they go into ``links`` (relative paths)."""
    found: list[str] = []
    committing = False
    todo = [(evidence_dir, "")]
    while todo:
        folder, prefix = todo.pop()
        listing = entries if entries is not None and not prefix else os.scandir(folder)
        with listing:
            for entry in listing:
                name = entry.name
                if name.startswith("."):
                    if name == COMMIT_DIR and not prefix and entry.is_dir():
                        committing = True
                elif entry.is_symlink():  # evidence from anywhere: refused by the caller
                    if links is not None:
                        links.append(prefix + name)
                elif entry.is_file():
                    found.append(prefix + name)
                elif entry.is_dir(follow_symlinks=False):
                    if prefix or name != DECISIONS_DIR:  # people's records: see counting
                        todo.append((entry.path, prefix + name + "/"))
    found.sort()
    return found, committing


_SIGNED = re.compile("|".join(fnmatch.translate(p).replace(".*", "[^/]*") for p in SIGNED_PATTERNS))


def _looks_signed(name: str) -> bool:
    """True if ``name`` (relative to the evidence directory) is a kind that must be signed."""
    return _SIGNED.match(name) is not None


def _effective(
    folder: str, entries: ScandirIterator[str] | None = None, links: list[str] | None = None
) -> tuple[dict[str, str], dict[str, str], bool]:
    """(evidence file -> where its bytes are, repository file -> where, pending): the set in
    force in the evidence directory ``folder``, with a committed but interrupted write (see
    evidence_set) laid over it (``entries``: its listing, already open)."""
    names, committing = _scan(folder, entries, links)
    if os.sep == "/" and folder and not folder.endswith("/"):
        base = folder + "/"
        paths = {rel: base + rel for rel in names}
    else:
        paths = {rel: _under(folder, rel) for rel in names}
    outside: dict[str, str] = {}
    if not committing or os.path.basename(folder) != EVIDENCE_DIRS[0]:
        return paths, outside, False
    from sei_assets.core import evidence_set

    root = Path(folder).parent
    journal = evidence_set._journal(root)
    if journal is None:
        return paths, outside, False
    prefix = EVIDENCE_DIRS[0] + "/"
    for rel in journal.get("files", []):
        staged = evidence_set.view(root, rel)
        if staged is None or not staged.is_file():
            continue
        if rel.startswith(prefix):
            paths[rel[len(prefix) :]] = str(staged)
        else:
            outside[rel] = str(staged)
    for rel in journal.get("remove", []):
        paths.pop(rel[len(prefix) :] if rel.startswith(prefix) else rel, None)
    return paths, outside, True


def _check_index(
    evidence_dir: Path,
    paths: dict[str, str],
    outside: dict[str, str],
    digests: dict[str, str],
    files: list[FileVerdict],
    warnings: list[str],
    index_bytes: bytes | None = None,
) -> dict[str, Any] | None:
    """Hold the set to its signed index (``index_bytes``, the verified bytes, when known): every
    named file present with its digest; files the index does not name are warned about by name.
    Returns the index."""
    try:
        index: dict[str, Any] = json.loads(
            index_bytes if index_bytes is not None else _read(paths[INDEX_FILE])
        )
        named = index["files"]
        if not isinstance(named, dict):
            raise TypeError
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        files.append(FileVerdict(paths[INDEX_FILE], False, "the signed index is not readable"))
        return None
    folder = str(evidence_dir)
    prefix = evidence_dir.name + "/"
    covered = {INDEX_FILE, INDEX_FILE + SIG_SUFFIX}
    failed: set[Path] | None = None
    for rel, digest in named.items():
        inside = rel.startswith(prefix)
        name = rel[len(prefix) :] if inside else rel
        covered.add(name)
        if inside:  # a regular file when the folder was scanned (or staged, see _effective)
            where = paths.get(name)
            present = where is not None
        else:
            where = outside.get(rel) or os.fspath(evidence_dir.parent / rel)
            present = os.path.isfile(where)
        if not present or where is None:
            target = evidence_dir / name if inside else evidence_dir.parent / rel
            files.append(FileVerdict(target, False, "named by the signed index but missing"))
            continue
        actual = digests.get(name) if inside else None
        if actual is None:
            actual = sha256_bytes(_read(where))
        if actual != digest:
            target = evidence_dir / name if inside else evidence_dir.parent / rel
            if failed is None:
                failed = {f.path for f in files if not f.ok}
            if target not in failed:
                files.append(
                    FileVerdict(
                        target,
                        False,
                        "differs from the file the signed index names (altered, or left from "
                        "another evidence set)",
                    )
                )
    for name in sorted(set(paths) - covered):
        if name.endswith(SIG_SUFFIX) and name[: -len(SIG_SUFFIX)] in paths:
            continue
        signed = name + SIG_SUFFIX in paths
        warnings.append(
            f"{_under(folder, name)}: signed, but not named by the evidence index"
            if signed
            else f"{_under(folder, name)}: unsigned file, not part of the evidence"
        )
    return index


def verify_evidence(
    repo: Path,
    pubkey_hex: str | None = None,
    evidence_dir: Path | None = None,
    workers: int | None = None,
    keep_bundle: bool = False,
    keyless: Callable[[Path], str | None] | None = None,
) -> EvidenceVerdict:
    """Verify every ``*.sig`` of the repository's evidence directory, and the set against its
    signed index when it has one; see the module doc. ``workers`` (default
    ``$SEI_VERIFY_WORKERS``): processes for a folder of at least :data:`POOL_FROM` files.
    ``keep_bundle``: the verdict keeps the bytes of ``bundle.json`` that were verified.
    ``keyless``: for a folder without ``PUBKEY.txt`` when no key is pinned, the key to verify
    it with, if one is known (used as if pinned)."""
    entries = None
    if evidence_dir is None:
        found = _open_evidence_dir(repo)
        if found is None:
            names = ", ".join(EVIDENCE_DIRS)
            raise SeiError(f"no evidence directory in {Path(repo)} (looked for {names})")
        folder, candidate, entries = found
        # made when needed (a child of a Path parses one name, a new Path the whole folder)
        evidence_path = None
    else:
        repo = Path(repo)
        evidence_dir = evidence_dir if Path(evidence_dir).is_absolute() else repo / evidence_dir
        if not evidence_dir.is_dir():
            raise SeiError(f"evidence directory {evidence_dir} does not exist")
        folder, evidence_path = str(evidence_dir), evidence_dir

    def as_path() -> Path:
        nonlocal evidence_path
        if evidence_path is None:
            evidence_path = repo / candidate if isinstance(repo, Path) else Path(folder)
        return evidence_path

    if os.path.islink(folder):
        raise VerificationError(
            f"the evidence folder {folder} is a symbolic link (to {os.readlink(folder)}): "
            "refused, evidence lies inside the repository"
        )
    links: list[str] = []
    paths, outside, pending = _effective(folder, entries, links)
    order = sorted(paths) if pending else paths  # the scan is sorted
    signed = [rel[: -len(SIG_SUFFIX)] for rel in order if rel.endswith(SIG_SUFFIX)]
    if not signed:
        raise SeiError(f"no signed evidence (*.sig) in {folder}")

    key_problem = None
    if pubkey_hex is None and keyless is not None and PUBKEY_FILE not in paths:
        pubkey_hex = keyless(as_path())
    if pubkey_hex is not None:
        source, key_hex = "pinned", pubkey_hex.strip().lower()
    else:
        source = "repository"
        key_hex, key_problem = _read_repo_pubkey(folder, paths.get(PUBKEY_FILE))
    key = _key_for(key_hex) if key_problem is None else key_problem  # parsed once per folder

    indexed = INDEX_FILE in paths
    digests: dict[str, str] | None = {} if indexed else None
    kept: dict[str, tuple[bytes, str]] = {}
    outcomes: dict[str, tuple[bool, str, str | None]] = {}
    jobs: list[tuple[str, str, str]] = []
    for name in signed:
        if key_problem is not None:
            outcomes[name] = (False, key_problem, None)
        elif name not in paths:
            outcomes[name] = (False, f"{name}{SIG_SUFFIX} signs a file that is missing", None)
        elif name == INDEX_FILE or name == BUNDLE_FILE:
            # verified here, the bytes kept: for the index check, or for the verdict
            sig = paths[name + SIG_SUFFIX]
            outcomes[name] = _verify_paths(paths[name], sig, name, key, digests, kept, True)
        else:
            jobs.append((paths[name], paths[name + SIG_SUFFIX], name))
    if jobs:  # none when the only signed file is a kept bundle (or the index)
        outcomes.update(_verify_jobs(jobs, key, digests, workers))

    files = [FileVerdict(_under(folder, name), *outcomes[name]) for name in signed]
    for name in links:
        files.append(
            FileVerdict(
                _under(folder, name),
                False,
                "a symbolic link: refused, evidence is a regular file inside the folder",
            )
        )
    for name in order:
        if not name.endswith(SIG_SUFFIX) and name + SIG_SUFFIX not in paths and _looks_signed(name):
            files.append(
                FileVerdict(
                    _under(folder, name),
                    False,
                    f"evidence file has no {name.rsplit('/', 1)[-1]}.sig",
                )
            )
    if BUNDLE_FILE not in paths:  # a run's set without its bundle
        for sibling, what in (("bom.cdx.json", "BOM"), (ASSESSMENT_RESULTS, "assessment results")):
            if sibling in paths:
                files.append(
                    FileVerdict(
                        as_path() / BUNDLE_FILE,
                        False,
                        f"missing: the run's {what} is here, its bundle not",
                    )
                )
                break
    warnings: list[str] = []
    index = None
    if digests is not None and outcomes.get(INDEX_FILE, (False,))[0]:
        index = _check_index(
            as_path(), paths, outside, digests, files, warnings, kept[INDEX_FILE][0]
        )
    elif not indexed:
        for name in order:
            if not name.endswith(SIG_SUFFIX) and name != PUBKEY_FILE:
                if name + SIG_SUFFIX not in paths:
                    where = _under(folder, name)
                    warnings.append(f"{where}: unsigned file, not part of the evidence")
    set_id = None
    if BUNDLE_FILE in kept and outcomes[BUNDLE_FILE][0]:
        set_id = _named_set(kept[BUNDLE_FILE][0])
        if set_id is not None:
            _check_set(folder, set_id, index, INDEX_FILE in paths, files)
    ok = bool(files) and all(f.ok for f in files)
    shown = folder if evidence_path is None else evidence_path
    verdict = EvidenceVerdict(shown, source, key_hex, files, ok, warnings, index, pending)
    verdict.set_id = set_id
    if keep_bundle and BUNDLE_FILE in kept:
        verdict.bundle, verdict.bundle_sha256 = kept[BUNDLE_FILE]
    return verdict


def _named_set(bundle: bytes) -> str | None:
    """The id of the evidence set a (verified) bundle names, or None when it names none."""
    if b'"evidence_set"' not in bundle:  # the reference's bundles, and ours before sets
        return None
    try:
        named = json.loads(bundle).get("evidence_set")
    except (ValueError, RecursionError, AttributeError):
        return None
    found = named.get("id") if isinstance(named, dict) else None
    return found if isinstance(found, str) else None


def _check_set(
    folder: str,
    set_id: str,
    index: dict[str, Any] | None,
    has_index: bool,
    files: list[FileVerdict],
) -> None:
    """Hold the set to the bundle's word: the signed index of the same set must be here (the
    index then names every other file of it, see :func:`_check_index`)."""
    where = _under(folder, INDEX_FILE)
    if index is None:
        if not has_index:
            files.append(
                FileVerdict(
                    where,
                    False,
                    f"missing: {BUNDLE_FILE} belongs to evidence set {set_id}, whose signed "
                    "index is not here (deleted?)",
                )
            )
        return
    run = index.get("run")
    recorded = run.get("evidence_set") if isinstance(run, dict) else None
    if recorded != set_id:
        files.append(
            FileVerdict(
                where,
                False,
                f"the signed index is of evidence set {recorded}, {BUNDLE_FILE} of set "
                f"{set_id}: parts of two sets mixed",
            )
        )


def verify_repositories(
    repos: list[Path], pubkey_hex: str | None = None, workers: int | None = None
) -> list[EvidenceVerdict]:
    """:func:`verify_evidence` of each repository, in order; shared with ``workers - 1``
    forked processes (default ``$SEI_VERIFY_WORKERS``) from :data:`POOL_FROM` repositories
    on. Raises the first SeiError the loop would raise."""

    def part(some: list[Path], inner: int | None) -> list[EvidenceVerdict]:
        return [verify_evidence(repo, pubkey_hex, workers=inner) for repo in some]

    return shared(part, list(repos), workers)


# --------------------------------------------------------------------------- both cores
#
# `cryptography` releases the GIL during ECDSA verify and hashlib while hashing, but the rest of
# a file's verification (reading, the checks, the verdict) is Python that holds it, and threads
# that hand the GIL back and forth a dozen times per file end up slower than one thread. A large
# set is therefore shared with forked children (started in a few milliseconds: nothing to import,
# no pool to set up) that send back their verdicts. The set is cut in small chunks, and each
# process claims the next one by reading a one-byte ticket from a pipe (a read from a pipe is
# atomic), so a process slowed down (a child copies the pages it writes to, the machine is
# busy) takes fewer chunks and none waits long for the others. Fork is used only where it is
# safe (Linux, a single thread in this process); anywhere else, or for the chunks of a child
# that failed to start or died, the work is done here: the results are the same either way.

#: Processes sharing a large set, this one included (`$SEI_VERIFY_WORKERS`); by default the
#: CPUs this process may use.
VERIFY_WORKERS = int(os.environ.get("SEI_VERIFY_WORKERS") or 0) or len(
    os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else [0]
)
#: The smallest set (files of one folder, or repositories) worth forking for: below it the fork
#: costs more than the second core saves (the break-even in bench/README.md).
POOL_FROM = 128
#: Items per claimed chunk at most (fewer for a small set, more for one of over 256 chunks):
#: small enough that the last chunk keeps no process waiting long, large enough that claiming
#: (one read) costs nothing beside it.
CHUNK = 8
_TICKETS = 256  # one byte each


def shared(
    fn: Callable[[list[Any], int | None], list[Any]],
    items: list[Any],
    workers: int | None = None,
    ready: Callable[[int, list[Any]], None] | None = None,
) -> list[Any]:
    """``fn(items, workers)`` (one picklable result per item, in order), or, for a set of at
    least :data:`POOL_FROM` items where forking is safe, ``fn(chunk, 1)`` of contiguous chunks
    claimed in turn by this process and ``workers - 1`` forked children (default
    ``$SEI_VERIFY_WORKERS``). The results are the same either way. ``ready(start, results)``
    is given the results in order as they become known (while the children still work), the
    first from item 0 on, each from where the one before ended."""
    count = _worker_count(workers, len(items))
    if count >= 2:
        return _shared(lambda part: fn(part, 1), items, count, ready)
    with _collections_paused():
        results = fn(items, workers)
        if ready is not None:
            ready(0, results)
    return results


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """The cyclic garbage collector paused: verifying a large set makes many objects and no
    cycles, and in a forked child a collection would copy each page of the heap it walks."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _worker_count(workers: int | None, size: int) -> int:
    """How many processes to verify ``size`` items with: 1 unless the set is large and forking
    is safe here."""
    count = min(VERIFY_WORKERS if workers is None else workers, size)
    return count if count > 1 and size >= POOL_FROM and _can_fork() else 1


def _can_fork() -> bool:
    """True on Linux when this process runs a single thread: forking a threaded process can
    leave a lock held forever in the child."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _chunk_size(size: int, count: int) -> int:
    """Items per chunk for ``size`` items in ``count`` processes: at least four chunks each,
    at most :data:`CHUNK` items unless that needs more tickets than there are."""
    return max(1, min(CHUNK, -(-size // (4 * count))), -(-size // _TICKETS))


def _shared(
    fn: Callable[[list[Any]], list[Any]],
    items: list[Any],
    count: int,
    ready: Callable[[int, list[Any]], None] | None = None,
) -> list[Any]:
    """``fn(items)``, computed by chunks in this process and ``count - 1`` forked children
    (``fn`` returns one picklable result per item); raises what ``fn(items)`` would raise
    first, in order. What the children send is read between this process's own chunks; see
    :func:`shared` for ``ready``."""
    size = _chunk_size(len(items), count)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    tickets, write = os.pipe()
    try:
        os.write(write, bytes(range(len(chunks))))  # at most 256 bytes: the pipe holds them
    finally:
        os.close(write)
    children: list[_Child] = []
    #: chunk -> (True, its results) or (False, the exception fn raised)
    got: dict[int, tuple[bool, object]] = {}
    given = 0  # the chunks handed to ``ready`` so far

    def hand_over() -> None:
        nonlocal given
        while ready is not None and given in got and got[given][0]:
            ready(given * size, got[given][1])  # type: ignore[arg-type]  # (True, results)
            given += 1

    with _collections_paused():
        try:
            children = [child for _ in range(count - 1) if (child := _fork(fn, chunks, tickets))]
            while ticket := os.read(tickets, 1):
                number = ticket[0]
                try:
                    got[number] = True, fn(chunks[number])
                except Exception as exc:
                    got[number] = False, exc
                    while os.read(tickets, _TICKETS):  # the rest is not needed: stop the children
                        pass
                    break
                for child in children:
                    child.take(got)
                hand_over()
            for child in children:
                child.take(got, until_done=True)
        finally:
            os.close(tickets)
            for child in children:
                child.close()
        results: list[Any] = []
        for number, chunk in enumerate(chunks):  # in order, as the loop would meet them
            ok, value = got.get(number, (True, None))
            if not ok:
                raise value  # type: ignore[misc]  # (False, the exception)
            if value is None:  # claimed by a child that did not start, died, or stopped earlier
                value = fn(chunk)
            if ready is not None and number >= given:
                ready(number * size, value)  # type: ignore[arg-type]
            results.extend(value)  # type: ignore[arg-type]
        return results


_LENGTH = 4  # bytes of the length before each message a child sends


class _Child:
    """A forked child claiming chunks, and the pipe it sends each one's outcome through:
    ``(chunk, True, results)``, or ``(chunk, False, exception)`` for the one it stopped at."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.buffer = bytearray()
        os.set_blocking(fd, False)

    def take(self, got: dict[int, tuple[bool, object]], until_done: bool = False) -> None:
        """Add what the child has sent so far to ``got`` (``until_done``: wait until it has
        sent everything, or died)."""
        if self.fd < 0:
            return
        if until_done:
            os.set_blocking(self.fd, True)
        while True:
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not data:  # everything is sent
                os.close(self.fd)
                self.fd = -1
                break
            self.buffer += data
        buffer, start = self.buffer, 0
        while len(buffer) - start >= _LENGTH:
            end = start + _LENGTH + int.from_bytes(buffer[start : start + _LENGTH], "little")
            if len(buffer) < end:
                break
            try:
                number, ok, value = pickle.loads(buffer[start + _LENGTH : end])
            except Exception:  # not what a child sends: what follows is done here
                start = len(buffer)
                self.close()
                break
            got.setdefault(number, (ok, value))
            start = end
        del buffer[:start]

    def close(self) -> None:
        """Stop reading (a child still writing then stops) and reap the child."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.pid:
            os.waitpid(self.pid, 0)
            self.pid = 0


def _fork(
    fn: Callable[[list[Any]], list[Any]], chunks: list[list[Any]], tickets: int
) -> _Child | None:
    """Start a child claiming chunks of ``fn`` from ``tickets``; None when it cannot start."""
    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid:
        os.close(write)
        return _Child(pid, read)
    try:  # the child: never returns into the caller, runs no exit handlers, flushes nothing
        os.close(read)
        while ticket := os.read(tickets, 1):
            number = ticket[0]
            try:
                message: tuple[int, bool, Any] = number, True, fn(chunks[number])
            except Exception as exc:  # sent to the parent, which raises it in its turn
                message = number, False, exc
            try:
                out = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
            except Exception:
                if message[1]:
                    raise  # results that do not pickle: the parent computes them
                out = pickle.dumps((number, False, RuntimeError(repr(message[2]))))
            view = memoryview(len(out).to_bytes(_LENGTH, "little") + out)
            while view:
                view = view[os.write(write, view) :]
            if not message[1]:
                break
        os.close(write)
    finally:
        os._exit(0)


def _verify_jobs(
    jobs: list[tuple[str, str, str]],
    key: _Key,
    digests: dict[str, str] | None,
    workers: int | None,
) -> dict[str, tuple[bool, str, str | None]]:
    """``name -> (ok, reason, keyid)`` for ``(file, envelope, name)`` jobs of one folder."""
    count = _worker_count(workers, len(jobs))
    if count < 2:
        return {
            name: _verify_paths(data, sig, name, key, digests, None, True)
            for data, sig, name in jobs
        }
    want = digests is not None

    def part(some: list[tuple[str, str, str]]) -> list[Any]:
        out = []
        for data, sig, name in some:
            mine: dict[str, str] | None = {} if want else None
            out.append((name, _verify_paths(data, sig, name, key, mine, None, True), mine))
        return out

    outcomes: dict[str, tuple[bool, str, str | None]] = {}
    for name, outcome, mine in _shared(part, jobs, count):
        outcomes[name] = outcome
        if digests is not None and mine:
            digests.update(mine)
    return outcomes
