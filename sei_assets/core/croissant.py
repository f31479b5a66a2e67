"""Data governance facts read from a dataset's Croissant JSON-LD (EU AI Act Art. 10)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sei_assets.core.errors import ManifestError, SeiError
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


def follow_stderr() -> None:
    """mlcroissant's logging (absl's handler, and a stream handler it adds) binds `sys.stderr`
    as it was at import; when that stream is a temporary one (a captured test, a CLI runner),
    later log records would go to a closed file. Point those handlers at the current stderr.

    absl's handler is pointed there whatever it holds: when a run configures logging (Dagster
    does, with `logging.config.dictConfig`), every handler is closed, and absl's closes its
    stream unless it is the current `sys.stderr`; a stream bound under another stderr (a test's
    capture file, imported before a CLI runner swapped stderr) would be closed under its owner."""
    import logging
    import sys

    handlers = [
        h for lg in logging.root.manager.loggerDict.values() for h in getattr(lg, "handlers", [])
    ]
    try:
        from absl import logging as absl_logging

        absl = absl_logging.get_absl_handler().python_handler
        if not isinstance(absl.stream, _CurrentStderr):
            absl.stream = _CurrentStderr()
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


#: The spellings of schema.org's Dataset type a Croissant file's top-level ``@type`` may take.
DATASET_TYPES = frozenset(
    {
        "sc:Dataset",
        "schema:Dataset",
        "Dataset",
        "https://schema.org/Dataset",
        "http://schema.org/Dataset",
    }
)
_FILE_SET = ("FileSet",)
_DIGESTS = ("sha256", "md5", "contentUrl")


def _types(node: dict[str, Any]) -> list[str]:
    raw = node.get("@type")
    items = raw if isinstance(raw, list) else [raw]
    return [t for t in items if isinstance(t, str)]


def _line_of(text: str, key: str, nth: int = 0) -> int | None:
    """The line of the ``nth`` occurrence of ``"key":`` in the JSON text (for messages)."""
    found = list(re.finditer(r'"' + re.escape(key) + r'"\s*:', text))
    if not found:
        return None
    return text.count("\n", 0, found[min(nth, len(found) - 1)].start()) + 1


def check_structure(path: Path) -> None:
    """The structural rules that matter for evidence; each failure is exit 2 naming the file,
    the field and its line. They do not depend on mlcroissant, so they hold when it crashes:

    - the document is a JSON-LD object whose ``@type`` is schema.org's Dataset (its identity);
    - ``distribution`` holds at least one object, and every file object in it carries a digest
      (``sha256``, ``md5``) or its location (``contentUrl``); a file set, its ``includes``
      pattern (the data the digest of the evidence stands for must be knowable);
    - ``recordSet``, where present, is an object or a list of objects.
    """
    from sei_assets.core import safeload

    doc = read_croissant(path)
    text = safeload.read_text(Path(path), "Croissant description")  # for the lines of messages
    if not any(t in DATASET_TYPES for t in _types(doc)):
        raise ManifestError(
            path, "@type", "expected sc:Dataset (a Croissant dataset)", _line_of(text, "@type")
        )
    dist = doc.get("distribution")
    entries = dist if isinstance(dist, list) else [dist] if isinstance(dist, dict) else None
    if not entries:
        raise ManifestError(
            path,
            "distribution",
            "expected at least one file object (with sha256 or contentUrl)",
            _line_of(text, "distribution"),
        )
    for i, entry in enumerate(entries):
        where = f"distribution[{i}]"
        if not isinstance(entry, dict):
            raise ManifestError(path, where, "expected an object", _line_of(text, "distribution"))
        is_set = any(t.rsplit(":", 1)[-1].rsplit("/", 1)[-1] in _FILE_SET for t in _types(entry))
        wanted = ("includes",) if is_set else _DIGESTS
        if not any(isinstance(entry.get(k), str) and entry.get(k) for k in wanted):
            line = _line_of(text, "@id", i) if "@id" in entry else _line_of(text, "distribution")
            need = "includes" if is_set else "sha256 or contentUrl"
            raise ManifestError(path, where, f"expected {need}: the file cannot be known", line)
    records = doc.get("recordSet")
    if records is not None:
        items = records if isinstance(records, list) else [records]
        if not all(isinstance(r, dict) for r in items):
            raise ManifestError(
                path, "recordSet", "expected record set objects", _line_of(text, "recordSet")
            )


def validate_croissant(path: Path) -> list[str]:
    """Read the Croissant file as the evidence needs it, and return the warnings to record.

    The structural rules (``check_structure``) decide: a failure is exit 2. mlcroissant then
    validates the document where it can read it: each issue it reports becomes a warning (the
    dataset's digest and identity are already known), and a crash of the validator itself
    (e.g. ``KeyError: '@language'`` on a minimal ``@context``) is no verdict on the dataset:
    it is recorded as a warning that the validator could not read the document."""
    from sei_assets.core.memo import package_version, remembered_json

    check_structure(path)  # a missing, non-JSON or structurally unusable file stops here
    # the validator's verdict depends only on the document (and the files it names), and on the
    # validator's version: remembered by their digests, so that an unchanged dataset description
    # is not validated again in every run (importing mlcroissant alone costs seconds)
    key = {
        "document": sha256_file(path),
        "files": {f.name: sha256_file(f) for f in data_files(path)},
        "mlcroissant": package_version("mlcroissant"),
        "rules": _RULES,
    }
    # remembered without the folder's name (the same document in another clone gives the same
    # warnings), which is put back when read
    here = str(Path(path).resolve().parent)
    kept = remembered_json(
        "croissant",
        key,
        lambda: [w.replace(here, _HERE) for w in _mlcroissant_warnings(path)],
    )
    return [str(w).replace(_HERE, here) for w in kept]


_HERE = "{folder of the dataset description}"


#: Bumped when what `validate_croissant` makes of mlcroissant's answer changes.
_RULES = 1


def _mlcroissant_warnings(path: Path) -> list[str]:
    """The warnings of mlcroissant's own validation of the document."""
    import logging

    follow_stderr()
    logging.getLogger("absl").setLevel(logging.ERROR)
    import mlcroissant as mlc

    try:
        metadata = mlc.Metadata.from_file(ctx=mlc.Context(), file=str(path))
        issues = [str(i) for i in sorted(metadata.ctx.issues.errors)]
    except mlc.ValidationError as exc:
        issues = _reported_errors(str(exc))
    except Exception as exc:  # noqa: BLE001 - the validator's own failure, not a finding
        return [
            f"mlcroissant could not read the document ({type(exc).__name__}: {exc}); "
            "structural checks applied instead"
        ]
    return [f"mlcroissant: {_clip(i)}" for i in issues]


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reported_errors(message: str) -> list[str]:
    """The error lines of mlcroissant's ValidationError text (its warnings are advice)."""
    out: list[str] = []
    in_errors = True
    for line in message.splitlines():
        stripped = line.strip()
        if stripped.startswith("Found the following"):
            in_errors = "error" in stripped
            continue
        if in_errors and stripped:
            out.append(stripped.removeprefix("- ").strip())
    return out


def data_governance(path: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """The bundle's `data_governance` section, with the digest of the Croissant file and, when
    the validation left any, its `warnings`."""
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
    if warnings:
        out["warnings"] = list(warnings)
    return {k: v for k, v in out.items() if v is not None}


def data_files(path: Path) -> list[Path]:
    """The local files a Croissant distribution points at (relative contentUrl), existing only."""
    doc = read_croissant(path)
    out = []
    dist = doc.get("distribution") or []
    for obj in dist if isinstance(dist, list) else [dist]:
        url = obj.get("contentUrl") if isinstance(obj, dict) else None
        if isinstance(url, str) and "://" not in url:
            candidate = Path(path).parent / url
            if candidate.is_file():
                out.append(candidate)
    return sorted(out)
