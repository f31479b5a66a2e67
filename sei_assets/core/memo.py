"""Results that depend only on their inputs, remembered between processes.

A `sei run` is a new process each time, and three of its steps cost more in imports than in
work: the Croissant validator (mlcroissant), the environment's bill of materials (cyclonedx
and the metadata of every installed distribution) and the fairness chart (matplotlib). Each
is a pure function of inputs that rarely change, so its result is kept under
``<state>/memo/<kind>/`` keyed by the digest of those inputs (file digests, package versions).

The memory is a convenience, never a source of truth: a missing, unreadable or oversized
entry is recomputed, a failed write is ignored, and ``SEI_NO_MEMO=1`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write
from sei_assets.core.paths import state_dir

OFF_ENV = "SEI_NO_MEMO"
#: An entry larger than this is not trusted to be one of ours and is recomputed.
MAX_ENTRY = 8 * 1024 * 1024


def _entry(kind: str, key: Any, suffix: str) -> Path | None:
    if os.environ.get(OFF_ENV):
        return None
    text = json.dumps([kind, key], sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return state_dir() / "memo" / kind / f"{digest}{suffix}"


def remembered_json(kind: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, or what it returned before for the same ``kind`` and ``key`` (JSON)."""
    from sei_assets.core.safeload import load_json

    path = _entry(kind, key, ".json")
    if path is not None and path.is_file():
        try:
            return load_json(path, "remembered result", max_bytes=MAX_ENTRY)["value"]
        except (SeiError, KeyError, TypeError):
            pass
    value = compute()
    if path is not None:
        try:
            atomic_write(path, json.dumps({"value": value}, sort_keys=True))
        except OSError:
            pass
    return value


def remembered_bytes(kind: str, key: Any, compute: Callable[[], bytes | None]) -> bytes | None:
    """``compute()``, or the bytes it returned before for the same ``kind`` and ``key``; None
    (nothing to remember) is never stored."""
    path = _entry(kind, key, ".bin")
    if path is not None and path.is_file():
        try:
            if path.stat().st_size <= MAX_ENTRY:
                return path.read_bytes()
        except OSError:
            pass
    value = compute()
    if path is not None and value is not None:
        try:
            atomic_write(path, value)
        except OSError:
            pass
    return value


def package_version(name: str) -> str:
    """The installed version of ``name`` (part of a key: a new version recomputes)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"
