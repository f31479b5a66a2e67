"""Evidence on disk: the `.sei/` directory, its signed files, the previous evidence in history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sei_assets.core import gitutil
from sei_assets.core.fsutil import atomic_write

EVIDENCE_DIR = ".sei"
LEGACY_DIRS = (".venth", ".froga")
BUNDLE = "bundle.json"
BOM = "bom.cdx.json"
SCHEMA_VERSION = "sei-assets/bundle/v1"


def evidence_dir(repo: Path) -> Path:
    """Where this engine writes evidence."""
    return repo / EVIDENCE_DIR


def dump(doc: dict[str, Any]) -> bytes:
    """The exact bytes an evidence JSON file is written with."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


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


def previous_bundle(repo: Path) -> tuple[dict[str, Any], str] | None:
    """The latest evidence before this run: on disk in .sei, else committed (.sei/.venth/.froga)."""
    from sei_assets.core import evidence_set

    evidence_set.recover(repo)
    current = evidence_dir(repo) / BUNDLE
    if current.is_file():
        try:
            return json.loads(current.read_text(encoding="utf-8")), "working tree"
        except ValueError:
            pass
    sha = gitutil.head(repo)
    if not sha:
        return None
    for d in (EVIDENCE_DIR, *LEGACY_DIRS):
        raw = gitutil.show(repo, sha, f"{d}/{BUNDLE}")
        if raw:
            try:
                return json.loads(raw), sha
            except ValueError:
                continue
    return None


def treatment_events(
    repo: Path,
    previous: tuple[dict[str, Any], str] | None,
    results: list[dict[str, Any]],
    treatment_paths: list[str],
) -> list[dict[str, Any]]:
    """Controls that failed in the previous evidence and pass now, anchored to the treatment."""
    if not previous:
        return []
    before = {r["control_id"]: r for r in previous[0].get("control_results", [])}
    anchor = gitutil.last_commit_touching(repo, treatment_paths)
    events = []
    for r in results:
        old = before.get(r["control_id"])
        if old and old.get("passed") is False and r["passed"]:
            event = {
                "control_id": r["control_id"],
                "risk_id": r["risk_id"],
                "from": {"passed": False, "actual_value": old.get("actual_value")},
                "to": {"passed": True, "actual_value": r["actual_value"]},
                "threshold": r["threshold"],
                "operator": r["operator"],
                "previous_evidence": previous[1],
            }
            if anchor:
                event["treatment_commit"], event["treatment_subject"] = anchor
            events.append(event)
    return events
