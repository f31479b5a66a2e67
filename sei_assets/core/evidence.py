"""Evidence on disk: the `.sei/` directory, its signed files, the previous evidence in history."""

from __future__ import annotations

import json
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


def previous_bundle(repo: Path) -> tuple[Bundle, str] | None:
    """The latest evidence before this run: on disk in .sei, else committed (.sei/.venth/.froga)."""
    from sei_assets.core import evidence_set
    from sei_assets.core.model import Bundle

    evidence_set.recover(repo)
    current = evidence_dir(repo) / BUNDLE
    if current.is_file():
        try:
            return Bundle.from_bytes(current.read_bytes()), "working tree"
        except ValueError:
            pass
    sha = gitutil.head(repo)
    if not sha:
        return None
    for d in (EVIDENCE_DIR, *LEGACY_DIRS):
        raw = gitutil.show(repo, sha, f"{d}/{BUNDLE}")
        if raw:
            try:
                return Bundle.from_bytes(raw), sha
            except ValueError:
                continue
    return None


def treatment_events(
    repo: Path,
    previous: tuple[Bundle, str] | None,
    results: list[dict[str, Any]],
    treatment_paths: list[str],
) -> list[dict[str, Any]]:
    """Controls that failed in the previous evidence and pass now, anchored to the treatment."""
    if not previous:
        return []
    before = {r.control_id: r for r in previous[0].control_results}
    anchor = gitutil.last_commit_touching(repo, treatment_paths)
    events = []
    for r in results:
        old = before.get(r["control_id"])
        if old and old.passed is False and r["passed"]:
            event = {
                "control_id": r["control_id"],
                "risk_id": r["risk_id"],
                "from": {"passed": False, "actual_value": old.actual_value},
                "to": {"passed": True, "actual_value": r["actual_value"]},
                "threshold": r["threshold"],
                "operator": r["operator"],
                "previous_evidence": previous[1],
            }
            if anchor:
                event["treatment_commit"], event["treatment_subject"] = anchor
            events.append(event)
    return events
