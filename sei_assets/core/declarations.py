"""What the Dagster front needs of a system's manifest when its definitions load: the compiled
controls (one asset check each), the applicable standards with a catalogue (one conformance
asset each) and the pipeline tool.

Parsing a manifest costs milliseconds (the YAML event scan, composition, validation); a code
location of hundreds of systems would spend most of its load there. So, as dagster-dbt reads a
dbt manifest prepared ahead, the declarations are prepared ahead: `sei init` writes them for
every registered system and the compile step refreshes them whenever it compiles. Loading only
reads: a prepared file counts only when it was made from these exact manifest bytes by this
exact code, so an edited manifest, a changed catalogue or an upgraded engine is parsed again
(and never written at load).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from sei_assets.core.controls import Control
from sei_assets.core.errors import SeiError
from sei_assets.core.registry import SystemEntry

FORMAT = 2
_TUPLES = {f.name for f in fields(Control) if isinstance(f.default, tuple)}


@dataclass
class Declared:
    """What the system's manifest declares, as the definitions need it."""

    controls: list[Control] = field(default_factory=list)
    standards: list[str] = field(default_factory=list)
    tool: str = ""
    error: str | None = None
    #: Post-market monitoring, when the manifest declares `monitoring.source`: the first day
    #: and each monitoring measure (id, metric, risk, severity of a breach, threshold).
    monitoring: dict[str, Any] | None = None


def of_manifest(loaded: Any) -> Declared:
    """The declarations of a loaded manifest."""
    from sei_assets.core.conformance import applicable
    from sei_assets.core.controls import compile_controls

    return Declared(
        compile_controls(loaded.manifest),
        applicable(loaded),
        loaded.manifest.pipeline.tool,
        monitoring=monitoring_of(loaded.manifest),
    )


def monitoring_of(manifest: Any) -> dict[str, Any] | None:
    """What the definitions need of the post-market monitoring (None when none is declared)."""
    if manifest.monitoring is None:
        return None
    from sei_assets.core.postmarket import (
        frequency_of,
        monitoring_measures,
        severity,
        threshold_text,
    )

    return {
        "start": manifest.monitoring.start,
        "measures": [
            {
                "id": m.id,
                "metric": m.metric,
                "risk": r.id,
                "severity": severity(m),
                "threshold": threshold_text(m),
                "frequency": frequency_of(m),
            }
            for r, m in monitoring_measures(manifest)
        ],
    }


_CODE: list[str] = []


def code_digest() -> str:
    """A digest of the code and data the declarations are derived from (the manifest model,
    the control compiler, the catalogues), computed once per process."""
    if not _CODE:
        from sei_assets.core import (
            conformance,
            constraint,
            controls,
            knowledge,
            manifest,
            postmarket,
        )

        digest = hashlib.sha256(f"{FORMAT}".encode())
        for module in (manifest, controls, constraint, conformance, knowledge, postmarket):
            digest.update(Path(str(module.__file__)).read_bytes())
        folder = resources.files("sei_assets.knowledge").joinpath("standards")
        for slug in knowledge.standard_slugs():  # the catalogues, found as knowledge finds them
            digest.update(slug.encode() + folder.joinpath(f"{slug}.yaml").read_bytes())
        _CODE.append(digest.hexdigest())
    return _CODE[0]


def prepared_path(entry: SystemEntry) -> Path:
    """Where the system's prepared declarations are kept (the state folder, not evidence)."""
    from sei_assets.core.paths import state_dir

    return state_dir() / "declarations" / f"{entry.name}.json"


def _manifest_file(entry: SystemEntry, base: Path) -> Path:
    from sei_assets.core.manifest import find_manifest

    path = entry.manifest_path(base)
    return find_manifest(path) if path.is_dir() else path


def _stamp(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest() + ":" + code_digest()


def _encode(declared: Declared, stamp: str) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "stamp": stamp,
            "controls": [asdict(c) for c in declared.controls],
            "standards": declared.standards,
            "tool": declared.tool,
            "monitoring": declared.monitoring,
        },
        sort_keys=True,
    )


def _decode(text: str, stamp: str) -> Declared | None:
    """The prepared declarations when they were made from ``stamp``; None otherwise."""
    try:
        doc = json.loads(text)
        if doc.get("stamp") != stamp:
            return None
        controls = []
        for c in doc["controls"]:
            for name in _TUPLES & c.keys():
                c[name] = tuple(tuple(x) if isinstance(x, list) else x for x in c[name])
            controls.append(Control(**c))
        monitoring = doc["monitoring"]
        if monitoring is not None and not isinstance(monitoring, dict):
            return None
        return Declared(controls, list(doc["standards"]), str(doc["tool"]), None, monitoring)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # any other shape is not prepared: the manifest is parsed instead


def record(entry: SystemEntry, loaded: Any) -> Declared:
    """Prepare the declarations of ``loaded`` (the system's manifest, just loaded) for the
    next load of the definitions; returns them."""
    from sei_assets.core.fsutil import atomic_write

    declared = of_manifest(loaded)
    atomic_write(prepared_path(entry), _encode(declared, _stamp(loaded.raw)))
    return declared


def read(entry: SystemEntry) -> Declared:
    """The system's declarations from its manifest (the repository's, else its seed's): the
    prepared ones when they match its bytes, else parsed now (nothing is written); a
    manifest that does not load gives its error."""
    from sei_assets.core.manifest import load_manifest

    error = None
    for base in (entry.repo, entry.seed):
        if base is None or not base.exists():
            continue
        try:
            path = _manifest_file(entry, base)
            raw = path.read_bytes()
        except (SeiError, OSError):
            raw = None
        if raw is not None and error is None:
            try:
                text = prepared_path(entry).read_text(encoding="utf-8")
            except OSError:
                text = None
            found = _decode(text, _stamp(raw)) if text else None
            if found is not None:
                return found
        try:
            loaded = load_manifest(entry.manifest_path(base))
        except SeiError as exc:
            error = error or str(exc)
            continue
        if error is None:
            return of_manifest(loaded)
    return Declared(error=error or f"{entry.repo}: no manifest (the system is not seeded)")


def prepare(entries: list[SystemEntry]) -> dict[str, str | None]:
    """Prepare the declarations of every system whose manifest loads: per system, None when
    prepared, else why not (its manifest's error)."""
    from sei_assets.core.manifest import load_manifest

    out: dict[str, str | None] = {}
    for entry in entries:
        base = next((b for b in (entry.repo, entry.seed) if b is not None and b.exists()), None)
        if base is None:
            out[entry.name] = f"{entry.repo}: no manifest (the system is not seeded)"
            continue
        try:
            record(entry, load_manifest(entry.manifest_path(base)))
            out[entry.name] = None
        except SeiError as exc:
            out[entry.name] = str(exc)
    return out
