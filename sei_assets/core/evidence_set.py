"""The evidence set of a repository: written as a whole or not at all, named by a signed index.

A write (a run's bundle, signatures, BOM, public key and ``sei.lock``; a later verb's signed
document) is a small transaction under the repository's run lock:

1. every file, and the new ``.sei/index.json`` with its signature, goes into a private
   ``.sei/.staging-<pid>-<token>/`` folder, with ``journal.json`` naming them last;
2. the commit point: that folder is renamed to ``.sei/.commit`` in one ``rename``;
3. each file is moved into place (``os.replace``), the index last; the folder is removed.

A crash before 2 leaves the previous set untouched (the staging folder is deleted by the next
write); a crash after 2 leaves a committed set that readers see through :func:`view` and that the
next write completes (:func:`recover`). The index names every file of the set with its sha256,
and records the run's ``sei.lock`` input hashes and commit, so that ``sei verify`` detects a
missing file, a file of another set, or evidence older than the repository's current inputs.
Files and folders whose names start with a dot are never evidence.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from sei_assets.core import faults, runlock
from sei_assets.core.fsutil import sha256_bytes
from sei_assets.core.layout import COMMIT_DIR

EVIDENCE_DIR = ".sei"
INDEX = "index.json"
INDEX_PATH = f"{EVIDENCE_DIR}/{INDEX}"
INDEX_SCHEMA = "sei-assets/evidence-index/v1"
STAGING_PREFIX = ".staging-"
JOURNAL = "journal.json"
GITIGNORE = "# sei-assets: interrupted writes and temporary files\n.staging-*\n.commit/\n.*.tmp\n"


def _quote(rel: str) -> str:
    """A repository-relative path as one flat file name inside the staging folder."""
    return rel.replace("%", "%25").replace("/", "%2F")


def _is_internal(rel: str) -> bool:
    """Dot files and folders (temporary files, the lock, transactions) are never evidence."""
    return any(part.startswith(".") for part in rel.split("/")[1:])


def _write_durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_index(repo: Path) -> dict[str, Any] | None:
    """The index in force (a committed transaction's, else the one in place), or None."""
    from sei_assets.core.errors import SeiError
    from sei_assets.core.safeload import decode, parse_json

    data = read_bytes(repo, INDEX_PATH)
    if data is None:
        return None
    where = Path(repo) / INDEX_PATH
    try:  # the bounded reader: depth, duplicate keys, lone surrogates are an unreadable index
        doc = parse_json(where, decode(where, data, "evidence index"), "evidence index")
    except SeiError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), dict) else None


def _journal(repo: Path) -> dict[str, Any] | None:
    path = Path(repo) / EVIDENCE_DIR / COMMIT_DIR / JOURNAL
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def view(repo: Path, rel: str) -> Path | None:
    """Where the evidence file ``rel`` of the set in force is: in a committed transaction not yet
    applied, else in place; None when the set removes it."""
    repo = Path(repo)
    journal = _journal(repo)
    if journal is not None:
        if rel in journal.get("remove", []):
            return None
        staged = repo / EVIDENCE_DIR / COMMIT_DIR / _quote(rel)
        if rel in journal.get("files", []) and staged.is_file():
            return staged
    return repo / rel


def read_bytes(repo: Path, rel: str) -> bytes | None:
    """The bytes of evidence file ``rel`` in the set in force, or None."""
    path = view(repo, rel)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def pending(repo: Path) -> bool:
    """Whether a committed transaction waits to be applied (a write was interrupted)."""
    return (Path(repo) / EVIDENCE_DIR / COMMIT_DIR / JOURNAL).is_file()


def _apply(repo: Path) -> None:
    """Move a committed transaction's files into place, the index last; remove the folder."""
    folder = repo / EVIDENCE_DIR / COMMIT_DIR
    journal = _journal(repo) or {}
    for rel in journal.get("files", []):
        staged = folder / _quote(rel)
        if staged.is_file():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
            faults.checkpoint(f"apply {rel}")
    for rel in journal.get("remove", []):
        (repo / rel).unlink(missing_ok=True)
    _fsync_dir(repo / EVIDENCE_DIR)
    faults.checkpoint("applied")
    shutil.rmtree(folder, ignore_errors=True)


def recover(repo: Path) -> None:
    """Complete an interrupted, committed write; delete staging folders and temporary files.

    Call with the run lock held (it is taken here too; the lock is re-entrant)."""
    repo = Path(repo)
    base = repo / EVIDENCE_DIR
    if not base.is_dir():
        return
    with runlock.repo_lock(repo):
        if pending(repo):
            _apply(repo)
        elif (base / COMMIT_DIR).exists():
            shutil.rmtree(base / COMMIT_DIR, ignore_errors=True)
        for entry in base.iterdir():
            if entry.name.startswith(STAGING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
        for root, _dirs, names in os.walk(base):
            for name in names:
                if name.startswith(".") and name.endswith(".tmp"):
                    Path(root, name).unlink(missing_ok=True)
        for stray in repo.glob(".sei.lock.*.tmp"):
            stray.unlink(missing_ok=True)


def _carried(repo: Path, old: dict[str, Any] | None) -> dict[str, str]:
    """The files of the set in force that the new set keeps (with their recorded digests)."""
    if old is not None:
        return {
            rel: digest
            for rel, digest in old["files"].items()
            if isinstance(rel, str) and rel != INDEX_PATH and (repo / rel).is_file()
        }
    # evidence written before indices: adopt its signed files as they are
    carried: dict[str, str] = {}
    base = repo / EVIDENCE_DIR
    for sig in base.rglob("*.sig") if base.is_dir() else []:
        rel_sig = sig.relative_to(repo).as_posix()
        rel = rel_sig[: -len(".sig")]
        if _is_internal(rel_sig) or rel_sig == INDEX_PATH + ".sig" or not (repo / rel).is_file():
            continue
        for name in (rel, rel_sig):
            carried[name] = sha256_bytes((repo / name).read_bytes())
    pubkey = base / "PUBKEY.txt"
    if carried and pubkey.is_file():
        carried[f"{EVIDENCE_DIR}/PUBKEY.txt"] = sha256_bytes(pubkey.read_bytes())
    return carried


def commit(
    repo: Path,
    files: dict[str, bytes],
    key: Any,
    run: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
) -> dict[str, Path]:
    """Write ``files`` (repository-relative POSIX paths) as one transaction with a new signed
    index; ``run`` (system, commit, lock inputs) replaces the index's run record."""
    from sei_assets.core import signing

    repo = Path(repo)
    base = repo / EVIDENCE_DIR
    with runlock.repo_lock(repo):
        recover(repo)
        old = read_index(repo)
        entries = _carried(repo, old)
        for rel in remove:
            entries.pop(rel, None)
        for rel, data in files.items():
            entries[rel] = sha256_bytes(data)
        index: dict[str, Any] = {
            "schema_version": INDEX_SCHEMA,
            "run": run if run is not None else (old or {}).get("run"),
            "files": dict(sorted(entries.items())),
        }
        index_bytes = (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        staged = {
            **files,
            INDEX_PATH + ".sig": signing.sign_bytes(index_bytes, INDEX, key),
            INDEX_PATH: index_bytes,
        }
        folder = base / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        ignore = base / ".gitignore"
        if not ignore.exists():  # the engine's own dot files are never committed as evidence
            ignore.write_text(GITIGNORE, encoding="utf-8")
        faults.checkpoint("staging")
        for rel, data in staged.items():
            _write_durable(folder / _quote(rel), data)
            faults.checkpoint(f"staged {rel}")
        journal = {"files": list(staged), "remove": [r for r in remove if r not in staged]}
        _write_durable(folder / JOURNAL, json.dumps(journal).encode("utf-8"))
        _fsync_dir(folder)
        faults.checkpoint("journal")
        os.rename(folder, base / COMMIT_DIR)  # the commit point
        _fsync_dir(base)
        faults.checkpoint("committed")
        _apply(repo)
    from sei_assets.core import translog

    translog.record("evidence", index_bytes)
    return {rel: repo / rel for rel in staged}
