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
import fnmatch
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sei_assets.core.errors import SeiError, VerificationError
from sei_assets.core.fsutil import atomic_write, sha256_bytes
from sei_assets.core.layout import ASSESSMENT_RESULTS, EVIDENCE_DIRS

KEY_ENV = "SEI_SIGNING_KEY"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://venturalitica.ai/attestation/v1"
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
#: Threads that verify the files of one evidence directory (`$SEI_VERIFY_WORKERS`); 1 by
#: default: `cryptography` holds the GIL during ECDSA verify, so only hashing overlaps.
VERIFY_WORKERS = int(os.environ.get("SEI_VERIFY_WORKERS", "1"))
POOL_FROM = 8

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
    ``--allow-key-in-repo`` does) and when the file is readable by group or others."""
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


@dataclass
class FileVerdict:
    """The outcome of verifying one signed file."""

    path: Path
    ok: bool
    reason: str
    keyid: str | None = None


@dataclass
class EvidenceVerdict:
    """The outcome of verifying every signed file of an evidence directory."""

    evidence_dir: Path
    pubkey_source: str
    pubkey_hex: str
    files: list[FileVerdict] = field(default_factory=list)
    ok: bool = False
    #: Files that are not part of the signed set, named (unsigned, or signed but not indexed).
    warnings: list[str] = field(default_factory=list)
    #: The signed evidence index, when the set has one and it verified.
    index: dict | None = None
    #: A committed write was interrupted; the verdict is about the set it commits.
    pending: bool = False

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


class _Bad(Exception):
    """Internal: a verification failure with its reason."""


def _b64(text: object, what: str) -> bytes:
    """Strict, canonical base64 decode (rejects non-alphabet and re-encodable variants)."""
    if not isinstance(text, str):
        raise _Bad(f"envelope {what} is not a string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Bad(f"envelope {what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise _Bad(f"envelope {what} is not canonical base64")
    return raw


def _check(
    data: bytes,
    envelope: bytes,
    name: str,
    pubkey_hex: str,
    keyid_box: list[str],
    digest_hex: str | None = None,
) -> None:
    """Raise _Bad with a reason unless ``envelope`` validly signs ``data`` as ``name``."""
    try:
        env = json.loads(envelope)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Bad(f"envelope is not valid JSON ({exc})") from exc
    if not isinstance(env, dict):
        raise _Bad("envelope is not a JSON object")
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise _Bad(f"payloadType is {env.get('payloadType')!r}, expected {PAYLOAD_TYPE!r}")
    payload = _b64(env.get("payload"), "payload")
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs or not all(isinstance(s, dict) for s in sigs):
        raise _Bad("envelope has no signatures")
    keyid_box.extend(str(s.get("keyid")) for s in sigs[:1])

    try:
        statement = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Bad("payload is not a JSON statement") from exc
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _Bad("payload is not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise _Bad(f"predicateType is {statement.get('predicateType')!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise _Bad("statement must have exactly one subject")
    subject = subjects[0]
    if subject.get("name") != name:
        raise _Bad(f"statement names {subject.get('name')!r}, not {name!r}")
    digest = subject.get("digest")
    expected = digest.get("sha256") if isinstance(digest, dict) else None
    if expected != (digest_hex or sha256_bytes(data)):
        raise _Bad("sha256 of the file does not match the signed statement (file altered)")

    try:
        public, keyid = _public_key(pubkey_hex)
    except ValueError as exc:
        raise _Bad(str(exc)) from exc
    mine = [s for s in sigs if s.get("keyid") == keyid]
    if not mine:
        raise _Bad(f"signed by keyid {keyid_box[0]}, not by this public key ({keyid})")
    keyid_box[:] = [keyid]
    message = pae(PAYLOAD_TYPE, payload)
    for entry in mine:
        raw = _b64(entry.get("sig"), "sig")
        if len(raw) != 2 * _SCALAR_LEN:
            raise _Bad(f"signature is {len(raw)} bytes, expected 64 (raw r||s)")
        der = utils.encode_dss_signature(
            int.from_bytes(raw[:_SCALAR_LEN], "big"), int.from_bytes(raw[_SCALAR_LEN:], "big")
        )
        try:
            public.verify(der, message, _ECDSA_SHA256)
            return
        except InvalidSignature:
            continue
    raise _Bad("ECDSA signature does not verify against the public key")


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
    keyid: list[str] = []
    raw_path = os.fspath(path)
    try:
        with open(raw_path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return FileVerdict(path, False, f"cannot read signed file: {exc.strerror or exc}")
    try:
        with open(os.fspath(sig) if sig else raw_path + SIG_SUFFIX, "rb") as fh:
            envelope = fh.read()
    except OSError as exc:
        return FileVerdict(path, False, f"cannot read signature: {exc.strerror or exc}")
    name = name or subject_name(path)
    digest = sha256_bytes(data)
    if digests is not None:
        digests[name] = digest
        digests[name + SIG_SUFFIX] = sha256_bytes(envelope)
    try:
        _check(data, envelope, name, pubkey_hex.strip().lower(), keyid, digest)
    except _Bad as bad:
        return FileVerdict(path, False, str(bad), keyid[0] if keyid else None)
    return FileVerdict(path, True, "signature verified", keyid[0])


def find_evidence_dir(repo: Path) -> Path | None:
    """The first of ``.sei``, ``.venth``, ``.froga`` under ``repo`` that is a directory."""
    for candidate in EVIDENCE_DIRS:
        if (Path(repo) / candidate).is_dir():
            return Path(repo) / candidate
    return None


def _read_repo_pubkey(evidence_dir: Path, where: Path | None = None) -> tuple[str, str | None]:
    """The hex key from ``PUBKEY.txt`` (read at ``where`` if given) and, if malformed, why."""
    target = evidence_dir / PUBKEY_FILE
    try:
        raw = (where or target).read_bytes()
    except FileNotFoundError:
        raise SeiError(
            f"no public key to verify {evidence_dir}: {target} is missing, no key was pinned "
            "and none is known for this system; pass the signer's public key with "
            "--pubkey <hex or file holding it>"
        ) from None
    except OSError as exc:
        raise SeiError(f"cannot read {target}: {exc.strerror or exc}") from exc
    text = raw.decode("ascii", "replace").strip()
    if not _PUBKEY_TEXT.fullmatch(raw):
        return text, f"{target} is not a lower-case hex P-256 public key (altered?)"
    return text, None


def _listing(evidence_dir: Path) -> list[str]:
    """Every regular file under ``evidence_dir`` as a sorted relative POSIX path; dot files and
    folders (transactions, staging, temporary files, the lock) are not evidence."""
    found: list[str] = []
    todo = [(os.fspath(evidence_dir), "")]
    while todo:
        folder, prefix = todo.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    todo.append((entry.path, prefix + entry.name + "/"))
                elif entry.is_file():
                    found.append(prefix + entry.name)
    found.sort()
    return found


_SIGNED = re.compile("|".join(fnmatch.translate(p).replace(".*", "[^/]*") for p in SIGNED_PATTERNS))


def _looks_signed(name: str) -> bool:
    """True if ``name`` (relative to the evidence directory) is a kind that must be signed."""
    return _SIGNED.match(name) is not None


def _effective(evidence_dir: Path) -> tuple[dict[str, Path], dict[str, Path], bool]:
    """(evidence file -> where its bytes are, repository file -> where, pending): the set in
    force, with a committed but interrupted write (see evidence_set) laid over the folder."""
    paths = {rel: evidence_dir / rel for rel in _listing(evidence_dir)}
    outside: dict[str, Path] = {}
    if evidence_dir.name != EVIDENCE_DIRS[0] or not os.path.isdir(evidence_dir / ".commit"):
        return paths, outside, False
    from sei_assets.core import evidence_set

    root = evidence_dir.parent
    journal = evidence_set._journal(root)
    if journal is None:
        return paths, outside, False
    prefix = EVIDENCE_DIRS[0] + "/"
    for rel in journal.get("files", []):
        staged = evidence_set.view(root, rel)
        if staged is None or not staged.is_file():
            continue
        if rel.startswith(prefix):
            paths[rel[len(prefix) :]] = staged
        else:
            outside[rel] = staged
    for rel in journal.get("remove", []):
        paths.pop(rel[len(prefix) :] if rel.startswith(prefix) else rel, None)
    return paths, outside, True


def _check_index(
    evidence_dir: Path,
    paths: dict[str, Path],
    outside: dict[str, Path],
    digests: dict[str, str],
    files: list[FileVerdict],
    warnings: list[str],
) -> dict | None:
    """Hold the set to its signed index: every named file present with its digest; files the
    index does not name are warned about by name. Returns the index."""
    try:
        index = json.loads(paths[INDEX_FILE].read_bytes())
        named = index["files"]
        if not isinstance(named, dict):
            raise TypeError
    except (OSError, ValueError, TypeError, KeyError):
        files.append(FileVerdict(paths[INDEX_FILE], False, "the signed index is not readable"))
        return None
    prefix = evidence_dir.name + "/"
    covered = {INDEX_FILE, INDEX_FILE + SIG_SUFFIX}
    failed = {f.path for f in files if not f.ok}
    for rel, digest in named.items():
        inside = rel.startswith(prefix)
        name = rel[len(prefix) :] if inside else rel
        where = paths.get(name) if inside else outside.get(rel, evidence_dir.parent / rel)
        covered.add(name)
        target = evidence_dir / name if inside else evidence_dir.parent / rel
        if where is None or not where.is_file():
            files.append(FileVerdict(target, False, "named by the signed index but missing"))
            continue
        actual = digests.get(name) if inside else None
        if actual is None:
            actual = sha256_bytes(where.read_bytes())
        if actual != digest and target not in failed:
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
            f"{evidence_dir / name}: signed, but not named by the evidence index"
            if signed
            else f"{evidence_dir / name}: unsigned file, not part of the evidence"
        )
    return index


def verify_evidence(
    repo: Path,
    pubkey_hex: str | None = None,
    evidence_dir: Path | None = None,
    workers: int | None = None,
) -> EvidenceVerdict:
    """Verify every ``*.sig`` of the repository's evidence directory, and the set against its
    signed index when it has one; see the module doc."""
    repo = Path(repo)
    if evidence_dir is None:
        found = find_evidence_dir(repo)
        if found is None:
            names = ", ".join(EVIDENCE_DIRS)
            raise SeiError(f"no evidence directory in {repo} (looked for {names})")
        evidence_dir = found
    else:
        evidence_dir = evidence_dir if Path(evidence_dir).is_absolute() else repo / evidence_dir
        if not evidence_dir.is_dir():
            raise SeiError(f"evidence directory {evidence_dir} does not exist")

    paths, outside, pending = _effective(evidence_dir)
    sigs = [rel for rel in sorted(paths) if rel.endswith(SIG_SUFFIX)]
    if not sigs:
        raise SeiError(f"no signed evidence (*.sig) in {evidence_dir}")

    key_problem = None
    if pubkey_hex is not None:
        source, key_hex = "pinned", pubkey_hex.strip().lower()
    else:
        source = "repository"
        key_hex, key_problem = _read_repo_pubkey(evidence_dir, paths.get(PUBKEY_FILE))

    digests: dict[str, str] = {}

    def one(sig: str) -> FileVerdict:
        name = sig[: -len(SIG_SUFFIX)]
        target = evidence_dir / name
        if key_problem is not None:
            return FileVerdict(target, False, key_problem)
        if name not in paths:
            return FileVerdict(target, False, f"{sig} signs a file that is missing")
        verdict = verify_file(paths[name], key_hex, name, paths[sig], digests)
        verdict.path = target
        return verdict

    count = VERIFY_WORKERS if workers is None else workers
    if count > 1 and len(sigs) >= POOL_FROM:  # a pool costs more than it saves on a few files
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(count, len(sigs))) as pool:
            files = list(pool.map(one, sigs))
    else:
        files = [one(sig) for sig in sigs]
    for name in sorted(paths):
        if name + SIG_SUFFIX not in paths and _looks_signed(name):
            files.append(
                FileVerdict(
                    evidence_dir / name,
                    False,
                    f"evidence file has no {name.rsplit('/', 1)[-1]}.sig",
                )
            )
    if "bundle.json" not in paths and "bom.cdx.json" in paths:  # a run's set without its bundle
        files.append(
            FileVerdict(
                evidence_dir / "bundle.json",
                False,
                "missing: the run's BOM is here, its bundle not",
            )
        )
    warnings: list[str] = []
    index = None
    index_ok = any(f.ok and f.path == evidence_dir / INDEX_FILE for f in files)
    if INDEX_FILE in paths and index_ok:
        index = _check_index(evidence_dir, paths, outside, digests, files, warnings)
    elif INDEX_FILE not in paths:
        for name in sorted(paths):
            if not name.endswith(SIG_SUFFIX) and name != PUBKEY_FILE:
                if name + SIG_SUFFIX not in paths:
                    warnings.append(
                        f"{evidence_dir / name}: unsigned file, not part of the evidence"
                    )
    ok = bool(files) and all(f.ok for f in files)
    return EvidenceVerdict(evidence_dir, source, key_hex, files, ok, warnings, index, pending)
