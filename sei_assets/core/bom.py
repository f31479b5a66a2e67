"""The ML bill of materials: a CycloneDX 1.6 inventory of the Python environment that produced
the metrics, plus the model, built with cyclonedx-python-lib.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from email.message import Message


def _distributions() -> list[tuple[str, str, str | None]]:
    seen: dict[str, tuple[str, str, str | None]] = {}
    for dist in metadata.distributions():
        meta = cast("Message", dist.metadata)  # importlib's metadata is an email Message
        name = meta.get("Name")
        if not name:
            continue
        licence = meta.get("License-Expression")
        seen.setdefault(name.lower(), (name, dist.version, licence))
    return [seen[k] for k in sorted(seen)]


def _installed() -> list[str]:
    """What identifies the installed distributions without reading them: each metadata
    folder's name (it carries the version) with its metadata file's size and time."""
    import sys

    seen = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                for d in it:
                    if d.name.endswith((".dist-info", ".egg-info")):
                        meta = Path(d.path) / (
                            "METADATA" if d.name.endswith(".dist-info") else "PKG-INFO"
                        )
                        try:
                            st = meta.stat()
                            seen.append(f"{d.name}:{st.st_size}:{st.st_mtime_ns}")
                        except OSError:
                            seen.append(d.name)
        except OSError:
            continue
    return sorted(seen)


@cache
def build_bom(model_name: str | None) -> tuple[str, dict[str, Any]]:
    """(CycloneDX JSON text, the bundle's `bom` summary with the document's digest).

    Cached: one process's environment does not change between the runs it makes; between
    processes it is remembered for the same installed distributions (`core.memo`)."""
    from sei_assets.core.memo import remembered_json

    key = {"installed": _installed(), "model": model_name, "rules": 1}
    text, summary = remembered_json("bom", key, lambda: list(_build_bom(model_name)))
    return str(text), dict(summary)


def _build_bom(model_name: str | None) -> tuple[str, dict[str, Any]]:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    bom = Bom()
    summary = []
    for name, version, licence in _distributions():
        purl = PackageURL(type="pypi", name=name.lower(), version=version)
        comp = Component(
            name=name, version=version, type=ComponentType.LIBRARY, purl=purl, bom_ref=str(purl)
        )
        if licence:
            try:
                comp.licenses.add(LicenseExpression(licence))
            except ValueError:
                pass
        bom.components.add(comp)
        item = {"name": name, "version": version, "type": "library", "purl": str(purl)}
        if licence:
            item["license"] = licence
        item["bom_ref"] = str(purl)
        summary.append(item)
    if model_name:
        bom.components.add(
            Component(
                name=model_name, type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=model_name
            )
        )
        summary.append(
            {"name": model_name, "type": "machine-learning-model", "bom_ref": model_name}
        )
    # serial number and timestamp vary per call: drop them so one environment gives one digest
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    doc.pop("serialNumber", None)
    doc.get("metadata", {}).pop("timestamp", None)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text, {"format_version": "cyclonedx-1.6", "digest": digest, "components": summary}
