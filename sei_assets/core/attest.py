"""Manual measures attested by a person: `sei attest MEASURE --by "Name <email>" --evidence FILE`.

An attestation is a signed document of the evidence set (``.sei/attestations/<measure>.json``):
who attests, when, the measure, the evidence file (inside the repository) and its sha256, the
manifest's sha256, an optional note. It is *current* while the attested file and the manifest
are byte for byte what was attested; otherwise it is *stale* and says which changed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from sei_assets.core import safeload
from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import sha256_bytes

FOLDER = ".sei/attestations"
SCHEMA = "sei-assets/attestation/v1"
MAX_EVIDENCE = 64 * 1024 * 1024
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


def file_name(measure_id: str) -> str:
    """The attestation's file name for ``measure_id`` (a safe name; others get a digest)."""
    if _SAFE.match(measure_id) and ".." not in measure_id:
        return f"{measure_id}.json"
    return f"measure-{hashlib.sha256(measure_id.encode()).hexdigest()[:16]}.json"


def _evidence_path(repo: Path, evidence: Path) -> tuple[Path, str]:
    """The attested file, resolved (symlinks followed) and required inside the repository."""
    path = Path(evidence)
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    root = repo.resolve()
    if not path.is_relative_to(root):
        raise SeiError(f"--evidence: {evidence} is outside the repository {root}")
    rel = path.relative_to(root).as_posix()
    if rel.split("/", 1)[0] in (".git", ".sei"):
        raise SeiError(f"--evidence: {rel} is inside .git or .sei: attest a file of the system")
    if not path.is_file():
        raise SeiError(f"--evidence: {evidence} is not a file")
    if path.stat().st_size > MAX_EVIDENCE:
        raise SeiError(f"--evidence: {evidence} is larger than {MAX_EVIDENCE} bytes")
    return path, rel


def attest(
    repo: Path,
    measure_id: str,
    by: str,
    evidence: Path,
    note: str | None = None,
    key: Any = None,
) -> tuple[dict[str, Any], Path]:
    """Record a signed attestation of the manual measure ``measure_id``."""
    from sei_assets.core import gitutil, signing
    from sei_assets.core.engine import _now
    from sei_assets.core.evidence import dump, write_signed
    from sei_assets.core.governance import check_identity
    from sei_assets.core.manifest import load_manifest

    repo = Path(repo).resolve()
    loaded = load_manifest(repo)
    measures = {m.id: m for _r, m in loaded.manifest.measures}
    manual = sorted(i for i, m in measures.items() if m.evaluation == "manual")
    measure = measures.get(measure_id)
    if measure is None or measure.evaluation != "manual":
        what = "is not a measure of" if measure is None else "is not a manual measure of"
        raise SeiError(
            f"MEASURE: {measure_id!r} {what} {loaded.path} (manual measures: "
            f"{', '.join(manual) or 'none'}; a manual measure declares evaluation: manual)"
        )
    who = check_identity(by, "--by")
    path, rel = _evidence_path(repo, evidence)
    text = " ".join(note.split()) if note else None
    if text and len(text) > 2000:
        raise SeiError("--note: longer than 2000 characters")
    payload = {
        "measure": measure.id,
        "metric": measure.metric,
        "by": who,
        "at": _now(),
        "evidence": {"path": rel, "sha256": sha256_bytes(path.read_bytes())},
        "manifest": {
            "path": loaded.path.relative_to(repo).as_posix(),
            "sha256": sha256_bytes(loaded.raw),
        },
        "commit": gitutil.head(repo) if gitutil.has_head(repo) else None,
        "note": text,
    }
    doc = {
        "schema_version": SCHEMA,
        "kind": "attestation",
        "system": loaded.manifest.system.name,
        "payload": payload,
    }
    out = repo / FOLDER / file_name(measure.id)
    write_signed(out, dump(doc), key or signing.load_or_create_key())
    return doc, out


def status(repo: Path, measure_id: str, manifest_raw: bytes) -> dict[str, Any] | None:
    """The attestation of ``measure_id`` and whether it is current (``current``, ``stale``
    with ``why``); None when there is none. Reads the set in force, bounded."""
    from sei_assets.core import evidence_set

    rel = f"{FOLDER}/{file_name(measure_id)}"
    data = evidence_set.read_bytes(repo, rel)
    if data is None:
        return None
    doc = safeload.parse_json(repo / rel, safeload.decode(repo / rel, data, "attestation"))
    p = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(p, dict) or p.get("measure") != measure_id:
        raise SeiError(f"{repo / rel}: not an attestation of {measure_id}")
    why = []
    ev = p.get("evidence") or {}
    target = (repo / str(ev.get("path", ""))).resolve()
    if not target.is_relative_to(Path(repo).resolve()) or not target.is_file():
        why.append(f"the attested file {ev.get('path')} is gone")
    elif sha256_bytes(target.read_bytes()) != ev.get("sha256"):
        why.append(f"the attested file {ev.get('path')} changed")
    if (p.get("manifest") or {}).get("sha256") != sha256_bytes(manifest_raw):
        why.append("the manifest changed")
    return {**p, "file": rel, "current": not why, "why_stale": why}
