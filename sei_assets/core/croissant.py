"""Data governance facts read from a dataset's Croissant JSON-LD (EU AI Act Art. 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import sha256_file


def _first(doc: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in doc:
            return doc[k]
    return None


def read_croissant(path: Path) -> dict[str, Any]:
    """Parse a Croissant file; a clear error when it is missing or not JSON."""
    from sei_assets.core import safeload

    if not Path(path).is_file():
        raise SeiError(f"{path}: dataset.croissant names a file that does not exist")
    doc = safeload.load_json(path, "Croissant description")  # bounded, like every input
    if not isinstance(doc, dict):
        raise SeiError(f"{path}: dataset.croissant: expected a JSON-LD object at the top level")
    return doc


class _CurrentStderr:
    """A stream that writes to whatever `sys.stderr` is at the time of writing."""

    def write(self, text: str) -> int:
        import sys

        return sys.stderr.write(text)

    def flush(self) -> None:
        import sys

        sys.stderr.flush()

    closed = False

    def close(self) -> None:
        """Never closes the process's stderr."""


def _follow_stderr() -> None:
    """mlcroissant's logging (absl's handler, and a stream handler it adds) binds `sys.stderr`
    as it was at import; when that stream is a temporary one (a captured test, a CLI runner),
    later log records would go to a closed file. Point those handlers at the current stderr."""
    import logging
    import sys

    handlers = [
        h for lg in logging.root.manager.loggerDict.values() for h in getattr(lg, "handlers", [])
    ]
    try:
        from absl import logging as absl_logging

        handlers.append(absl_logging.get_absl_handler().python_handler)
    except (ImportError, AssertionError):
        pass
    for handler in [*logging.root.handlers, *handlers]:
        stream = getattr(handler, "stream", None)
        if (
            stream is not None
            and stream in (sys.stderr, sys.__stderr__)
            or (stream is not None and getattr(stream, "closed", False))
        ):
            handler.stream = _CurrentStderr()


def validate_croissant(path: Path) -> None:
    """Validate the Croissant file with mlcroissant (the run path: fail closed); an error names
    the file and the first issues mlcroissant found (each names its node and field)."""
    import logging

    import mlcroissant as mlc

    _follow_stderr()
    read_croissant(path)  # a missing or non-JSON file gets the plain message first
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        metadata = mlc.Metadata.from_file(ctx=mlc.Context(), file=str(path))
        issues = sorted(metadata.ctx.issues.errors)
    except mlc.ValidationError as exc:
        issues = [line for line in str(exc).splitlines() if line.strip()]
    except Exception as exc:  # noqa: BLE001 - mlcroissant raises several kinds on bad input
        issues = [f"{type(exc).__name__}: {exc}"]
    if issues:
        shown = "; ".join(str(i)[:300] for i in issues[:3])
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        raise SeiError(f"{path}: dataset.croissant does not validate (mlcroissant): {shown}{more}")


def data_governance(path: Path) -> dict[str, Any]:
    """The bundle's `data_governance` section, with the digest of the Croissant file."""
    doc = read_croissant(path)
    record_sets = doc.get("recordSet") or []
    out = {
        "croissant_digest": "sha256:" + sha256_file(path),
        "name": doc.get("name"),
        "record_set_count": len(record_sets) if isinstance(record_sets, list) else 1,
        "description": doc.get("description"),
        "license": doc.get("license"),
        "cite_as": doc.get("citeAs"),
        "url": doc.get("url"),
        "version": doc.get("version"),
        "date_published": doc.get("datePublished"),
        "sensitive_data": _first(doc, "rai:sensitiveData", "rai:personalSensitiveInformation"),
        "data_biases": doc.get("rai:dataBiases"),
    }
    return {k: v for k, v in out.items() if v is not None}


def data_files(path: Path) -> list[Path]:
    """The local files a Croissant distribution points at (relative contentUrl), existing only."""
    doc = read_croissant(path)
    out = []
    for obj in doc.get("distribution") or []:
        url = obj.get("contentUrl") if isinstance(obj, dict) else None
        if isinstance(url, str) and "://" not in url:
            candidate = Path(path).parent / url
            if candidate.is_file():
                out.append(candidate)
    return sorted(out)
