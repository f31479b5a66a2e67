"""Evidence on disk: the `.sei/` directory, its signed files, the previous evidence in history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sei_assets.core import gitutil
from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write
from sei_assets.core.layout import BOM, BUNDLE, EVIDENCE_DIR, LEGACY_DIRS  # noqa: F401

if TYPE_CHECKING:
    from sei_assets.core.model import Bundle, Record

SCHEMA_VERSION = "sei-assets/bundle/v1"


def evidence_dir(repo: Path) -> Path:
    """Where this engine writes evidence."""
    return repo / EVIDENCE_DIR


def dump(doc: dict[str, Any] | Record, newline: bool = True) -> bytes:
    """The exact bytes an evidence JSON file is written with (two-space indent, UTF-8; the
    reference engine writes no trailing newline, this engine does)."""
    data = doc.to_json() if hasattr(doc, "to_json") else doc
    try:  # strict JSON: a NaN or an infinity is refused, never written as a bare `NaN`
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise SeiError(f"evidence is strict JSON: {exc}") from None
    return (text + ("\n" if newline else "")).encode("utf-8")


def bundle_path(repo: Path) -> Path | None:
    """The current bundle file of ``repo``: this engine's (the set in force, even when a write
    was interrupted), else the reference's, else None."""
    from sei_assets.core import evidence_set

    for d in (EVIDENCE_DIR, *LEGACY_DIRS):
        p = Path(repo) / d / BUNDLE
        if d == EVIDENCE_DIR:
            p = evidence_set.view(Path(repo), f"{d}/{BUNDLE}") or p
        if p.is_file():
            return p
    return None


def load_bundle(path: Path) -> Bundle:
    """The bundle at ``path``; an error naming the file and what is wrong with it."""
    from sei_assets.core.model import Bundle

    try:
        return Bundle.from_bytes(Path(path).read_bytes())
    except OSError as exc:
        raise SeiError(f"{path}: cannot read the evidence bundle: {exc}") from None
    except ValueError as exc:  # JSON or model validation
        reason = str(exc).splitlines()
        raise SeiError(f"{path}: not a valid evidence bundle: {' '.join(reason[:4])}") from None


def read_bundle(repo: Path) -> Bundle | None:
    """The one bundle reader: the current evidence of ``repo`` (ours, else the reference's),
    or None when there is none."""
    path = bundle_path(repo)
    return load_bundle(path) if path else None


def _in_evidence(path: Path) -> tuple[Path, str] | None:
    """(repository, path relative to it) when ``path`` lies in a repository's `.sei/`."""
    path = Path(path).absolute()
    parts = path.parts
    if EVIDENCE_DIR in parts[:-1]:
        i = len(parts) - 2 - parts[-2::-1].index(EVIDENCE_DIR)
        return Path(*parts[:i]), "/".join(parts[i:])
    return None


def write_signed(path: Path, data: bytes, key: Any, extra: dict[str, bytes] | None = None) -> Path:
    """Write ``data`` and its detached DSSE signature beside it; return the signature's path.

    In a repository's `.sei/` both (with the public key and the ``extra`` files, named relative
    to the folder of ``path``) join the evidence set in one transaction (see evidence_set)."""
    from sei_assets.core import evidence_set, signing

    path = Path(path)
    envelope = signing.sign_bytes(data, signing.subject_name(path), key)
    where = _in_evidence(path)
    if where is None:
        atomic_write(path, data)
        for name, content in (extra or {}).items():
            atomic_write(path.parent / name, content)
        atomic_write(signing.sig_path(path), envelope)
        return signing.sig_path(path)
    repo, rel = where
    folder = rel.rsplit("/", 1)[0]
    files = {rel: data, rel + signing.SIG_SUFFIX: envelope}
    files[f"{EVIDENCE_DIR}/{signing.PUBKEY_FILE}"] = (signing.public_key_hex(key) + "\n").encode()
    for name, content in (extra or {}).items():
        files[f"{folder}/{name}"] = content
    evidence_set.commit(repo, files, key)
    return signing.sig_path(path)


@dataclass
class _Candidate:
    """One earlier evidence bundle: its bytes, its signature, the `sei.lock` written with it
    (None when absent or not this bundle's), and the commit that recorded it (None: not
    committed, only in the working tree)."""

    bundle: bytes
    signature: bytes | None
    lock: bytes | None
    commit: str | None


def _own_lock(lock: bytes | None, signature: bytes | None) -> dict[str, Any] | None:
    """The `sei.lock` document when it was written with the bundle signed by ``signature``."""
    if not lock or not signature:
        return None
    try:
        doc = json.loads(lock)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("signed_bundle_digest") != signature.decode(
        "utf-8", "replace"
    ):
        return None
    return doc


def _candidates(repo: Path) -> Iterator[_Candidate]:
    """Earlier evidence, newest first: the working tree's `.sei/` set, then every committed
    version of a bundle (this engine's, else the reference's folders) from HEAD back."""
    from sei_assets.core import evidence_set
    from sei_assets.core.layout import LOCK_NAME

    evidence_set.recover(repo)
    rel = f"{EVIDENCE_DIR}/{BUNDLE}"
    current = evidence_set.view(repo, rel)
    if current is not None and current.is_file():
        data = current.read_bytes()
        sig = evidence_set.read_bytes(repo, rel + ".sig")
        committed = gitutil.show(repo, "HEAD", rel) if gitutil.head(repo) else None
        if data != committed:
            yield _Candidate(data, sig, evidence_set.read_bytes(repo, LOCK_NAME), None)
    if not gitutil.head(repo):
        return
    paths = [f"{d}/{BUNDLE}" for d in (EVIDENCE_DIR, *LEGACY_DIRS)]
    log = gitutil.git(repo, "log", "--format=%H", "HEAD", "--", *paths, check=False)
    with gitutil.BlobReader(repo) as blobs:
        for sha in log.split():
            for path in paths:
                found = blobs.read(sha, path)
                if found is None:
                    continue
                signed = blobs.read(sha, path + ".sig")
                locked = blobs.read(sha, LOCK_NAME)
                yield _Candidate(
                    found[1], signed[1] if signed else None, locked[1] if locked else None, sha
                )
                break


def _precedes(repo: Path, earlier: str, later: str, strictly: bool) -> bool:
    """Whether commit ``earlier`` is an ancestor of ``later`` (and, ``strictly``, not it)."""
    if strictly and gitutil.commit_id(repo, earlier) == gitutil.commit_id(repo, later):
        return False
    return gitutil.is_ancestor(repo, earlier, later)


def treatment_anchor(repo: Path, treatment_paths: list[str]) -> str | None:
    """The commit of the treatment in force: the newest commit that changed the treatment
    inputs; None when they have uncommitted changes (a treatment not yet versioned) or no
    commit touches them."""
    if not treatment_paths or not gitutil.head(repo):
        return None
    dirty = gitutil.git(
        repo, "status", "--porcelain", "--untracked-files=all", "--", *treatment_paths, check=False
    )
    if dirty:
        return None
    found = gitutil.last_commit_touching(repo, treatment_paths)
    return found[0] if found else None


def baseline_evidence(repo: Path, treatment_hash: str | None, anchor: str | None) -> Bundle | None:
    """The evidence the current run is compared with: the newest one made before the treatment
    in force. For this engine's own evidence, its `sei.lock` decides (the treatment inputs it
    recorded differ from ``treatment_hash``). Otherwise the commit it was made at (its
    `triple.code`; when that commit is not in this history, the commit that recorded it, which
    comes after) must precede ``anchor``, the treatment commit; with no treatment commit, any
    committed evidence precedes a treatment not yet committed."""
    from sei_assets.core.model import Bundle

    for cand in _candidates(repo):
        try:
            bundle = Bundle.from_bytes(cand.bundle)
        except ValueError:
            continue
        lock = _own_lock(cand.lock, cand.signature)
        if lock is not None:
            recorded = (lock.get("sections") or {}).get("measurement-model") or {}
            if recorded.get("input_hash") != treatment_hash:
                return bundle
            continue
        if anchor is None:
            if cand.commit is not None:
                return bundle
            continue
        made = bundle.triple.code if bundle.triple else None
        if made and gitutil.commit_id(repo, made):
            if _precedes(repo, made, anchor, strictly=True):
                return bundle
        elif cand.commit is not None and _precedes(repo, cand.commit, anchor, strictly=False):
            return bundle
    return None


def treatment_events(
    repo: Path,
    results: list[dict[str, Any]],
    treatment_paths: list[str],
    treatment_hash: str | None,
) -> list[dict[str, Any]]:
    """Controls that failed in the evidence made before the treatment in force and pass now
    (ISO/IEC 23894 6.5: the treatment's effect, measured). Each event names the treatment
    commit it is anchored to (`anchored_commit`, null for a treatment not yet committed) and
    the commit the earlier evidence was made at (`previous_commit`)."""
    anchor = treatment_anchor(repo, treatment_paths)
    baseline = baseline_evidence(repo, treatment_hash, anchor)
    if baseline is None:
        return []
    before = {r.control_id: r for r in baseline.control_results}
    events = []
    for r in results:
        old = before.get(r["control_id"])
        if old and old.passed is False and r["passed"]:
            events.append(
                {
                    "control_id": r["control_id"],
                    "risk_id": r["risk_id"],
                    "kind": "Treatment",
                    "previous_value": old.actual_value,
                    "current_value": r["actual_value"],
                    "anchored_commit": anchor,
                    "previous_commit": baseline.triple.code if baseline.triple else None,
                }
            )
    return events
