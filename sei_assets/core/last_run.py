"""The outcome of the last `sei compile` / `sei run`, so that `status` tells the truth after a
failure: `$SEI_STATE_DIR/runs/<repository digest>.json` (written atomically) holds the
repository, when the last run ended, its exit code and, when it failed with bad input (2) or an
internal error (3), the reason. A run that ends with a verdict (0 green, 1 red) replaces it.

It lives in the state folder, not in the repository: a failed run leaves the repository and its
evidence byte for byte as they were (the record is the machine's, not signed evidence)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sei_assets.core.fsutil import atomic_write, sha256_bytes
from sei_assets.core.paths import state_dir

REASON_LIMIT = 500


def record_path(repo: Path) -> Path:
    """Where the last run of ``repo`` is recorded (one file per repository)."""
    key = sha256_bytes(str(Path(repo).resolve()).encode("utf-8"))[:24]
    return state_dir() / "runs" / f"{key}.json"


def now() -> str:
    """The current time, UTC, to the second (`2026-01-02T03:04:05Z`)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record(
    repo: Path, verb: str, exit_code: int, reason: str | None = None, trace: str | None = None
) -> Path | None:
    """Record the end of a run of ``verb`` in ``repo`` (nothing when ``repo`` is no folder)."""
    if not Path(repo).is_dir():
        return None
    doc: dict[str, Any] = {
        "repo": str(Path(repo).resolve()),
        "verb": verb,
        "at": now(),
        "exit_code": exit_code,
        "failed": exit_code >= 2,
    }
    if exit_code >= 2:
        text = (reason or "unknown reason").strip()
        doc["reason"] = text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + " …"
        if trace:
            doc["trace"] = trace
    path = record_path(repo)
    atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path


def read(repo: Path) -> dict[str, Any] | None:
    """The last run's record, or None (none yet, or unreadable: never an error for `status`)."""
    try:
        doc = json.loads(record_path(repo).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def last_failure(repo: Path, evidence_time: str | None = None) -> dict[str, Any] | None:
    """The last run's record when it failed (exit 2 or 3) after the evidence of
    ``evidence_time`` (evidence made later elsewhere, e.g. in the UI, supersedes it)."""
    doc = read(repo)
    if not doc or not doc.get("failed"):
        return None
    if evidence_time and str(doc.get("at", "")) < evidence_time:
        return None
    return doc
